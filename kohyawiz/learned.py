"""sd-scripts interfaces learned from a person's own checkout (`kohyawiz sd-scripts learn`),
kept in the kohyawiz home beside the shipped facts in vendor/, and the one converter from a
parser manifest to kohyawiz's facts format (tools/vendor_facts.py uses it too)."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

from kohyawiz.files import kohyawiz_home, write_atomic

INTERFACE_FILES = (
    "train_network.py", "sdxl_train_network.py", "library/train_util.py", "library/config_util.py",
    "library/sdxl_train_util.py", "library/deepspeed_utils.py", "library/custom_train_functions.py",
)  # fmt: skip
_KIND_BY_ACTION = {"_StoreTrueAction": "switch", "_StoreAction": "value"}
_TYPE_BY_NAME = {"str": "str", "int": "int", "float": "float", "int_or_float": "number", "Path": "path", None: "str"}


def learned_dir() -> Path:
    return kohyawiz_home() / "sd-scripts-facts"


def tree_key(root: Path, commit: str | None) -> str:
    """What identifies a checkout: its commit, or a hash of its interface files when it has none."""
    if commit:
        return commit[:12]
    digest = hashlib.sha256()
    for name in INTERFACE_FILES:
        path = root / name
        digest.update(name.encode())
        digest.update(path.read_bytes() if path.is_file() else b"-")
    return "tree-" + digest.hexdigest()[:12]


def _validator_type(validator: str) -> str:
    if "scalar_or_twodim" in validator:
        return "int_or_int_pair"
    if "twodim" in validator:
        return "float_pair"
    if re.fullmatch(r"Any\(<class 'float'>, <class 'int'>, msg=None\)", validator):
        return "number"
    if re.fullmatch(r"Any\(None, <class 'int'>, msg=None\)", validator):
        return "int"
    match = re.fullmatch(r"<class '(\w+)'>", validator)
    if match and match.group(1) in {"bool", "int", "float", "str"}:
        return match.group(1)
    if match and match.group(1) == "dict":
        return "table"
    return "str" if "str" in validator else "number" if "float" in validator or "int" in validator else "table"


def _schema(manifest: dict[str, Any], *names: str) -> dict[str, str]:
    keys: dict[str, str] = {}
    for name in names:
        for key, spec in manifest["dataset_config"].get(name, {}).items():
            keys[key] = _validator_type(spec["validator"])
    return dict(sorted(keys.items()))


def convert(manifest: dict[str, Any], version: str) -> dict[str, Any]:
    """A parser manifest (actions per script, dataset-config schemas) in kohyawiz's facts format."""
    scripts: dict[str, dict[str, Any]] = {}
    for script, actions in manifest["scripts"].items():
        args: dict[str, Any] = {}
        for action in actions:
            kind = _KIND_BY_ACTION.get(action["action"])
            if kind is None:
                continue  # help and version actions carry no setting
            if kind == "value" and action["nargs"] in ("*", "+"):
                kind = "list"
            fact: dict[str, Any] = {"flag": action["flags"][-1], "kind": kind}
            if kind != "switch":
                fact["type"] = _TYPE_BY_NAME.get(action["type"], "str")
            fact["default"] = action["default"]
            if action["choices"]:
                fact["choices"] = action["choices"]
            args[action["dest"]] = fact
        scripts[script] = dict(sorted(args.items()))
    ascendable = ("SUBSET_ASCENDABLE_SCHEMA", "DB_SUBSET_ASCENDABLE_SCHEMA", "DO_SUBSET_ASCENDABLE_SCHEMA")
    dataset_level = _schema(manifest, "DATASET_ASCENDABLE_SCHEMA", *ascendable)
    subset_level = _schema(manifest, *ascendable, "DB_SUBSET_DISTINCT_SCHEMA")
    distinct = manifest["dataset_config"].get("DB_SUBSET_DISTINCT_SCHEMA", {})
    return {
        "format": 1,
        "version": version,
        "scripts": scripts,
        "dataset_config": {
            "general": dataset_level,
            "dataset": dataset_level,
            "subset": subset_level,
            "subset_required": sorted(k for k, spec in distinct.items() if spec["required"]),
            "cli_only": sorted(manifest["dataset_config"].get("ARGPARSE_SPECIFIC_SCHEMA", {})),
        },
    }


def store(key: str, manifest: dict[str, Any], root: Path) -> Path:
    """Keep a learned interface; returns its file."""
    folder = learned_dir()
    folder.mkdir(parents=True, exist_ok=True)
    facts = convert(manifest, f"learned-{key}")
    facts["learned"] = {
        "key": key, "root": str(root),
        "image_extensions": manifest.get("image_extensions") or [],
        "bucket_reso_steps_divisor": int(manifest.get("bucket_reso_steps_divisor", 64)),
    }  # fmt: skip
    path = folder / f"learned-{key}.json"
    write_atomic(path, json.dumps(facts, indent=1) + "\n")
    return path


def learned_file(version_id: str) -> Path | None:
    if not version_id.startswith("learned-") or "/" in version_id or "\\" in version_id:
        return None
    path = learned_dir() / f"{version_id}.json"
    return path if path.is_file() else None
