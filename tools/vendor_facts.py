"""Carry sd-scripts interface facts into vendor/ in kohyawiz's own format.

The input is an argument manifest dumped from the real sd-scripts parsers
(`../shared/sd-scripts/args-*.json`); the output is `vendor/sd-scripts-facts/<id>.json`.
Run it again when a new sd-scripts version is added:

    python tools/vendor_facts.py ../shared/sd-scripts/args-v0.9.1.json ...
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

VENDOR = Path(__file__).resolve().parent.parent / "vendor" / "sd-scripts-facts"

_KIND_BY_ACTION = {"_StoreTrueAction": "switch", "_StoreAction": "value"}
_TYPE_BY_NAME = {"str": "str", "int": "int", "float": "float", "int_or_float": "number", "Path": "path"}


def _validator_type(validator: str) -> str:
    """Name a voluptuous validator by the value shape it accepts."""
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
    raise ValueError(f"unknown validator shape: {validator}")


def _schema(manifest: dict[str, Any], *names: str) -> dict[str, str]:
    keys: dict[str, str] = {}
    for name in names:
        for key, spec in manifest["dataset_config"].get(name, {}).items():
            keys[key] = _validator_type(spec["validator"])
    return dict(sorted(keys.items()))


def convert(manifest: dict[str, Any]) -> dict[str, Any]:
    scripts: dict[str, dict[str, Any]] = {}
    for script, actions in manifest["scripts"].items():
        args: dict[str, Any] = {}
        for action in actions:
            kind = _KIND_BY_ACTION.get(action["action"])
            if kind is None:
                continue  # help and version actions carry no setting
            if kind == "value" and action["nargs"] == "*":
                kind = "list"
            fact: dict[str, Any] = {"flag": action["flags"][-1], "kind": kind}
            if kind != "switch":
                fact["type"] = _TYPE_BY_NAME[action["type"]]
            fact["default"] = action["default"]
            if action["choices"]:
                fact["choices"] = action["choices"]
            args[action["dest"]] = fact
        scripts[script] = dict(sorted(args.items()))
    ascendable = (
        "SUBSET_ASCENDABLE_SCHEMA",
        "DB_SUBSET_ASCENDABLE_SCHEMA",
        "DO_SUBSET_ASCENDABLE_SCHEMA",
    )
    dataset_level = _schema(manifest, "DATASET_ASCENDABLE_SCHEMA", *ascendable)
    subset_level = _schema(manifest, *ascendable, "DB_SUBSET_DISTINCT_SCHEMA")
    required = sorted(
        key for key, spec in manifest["dataset_config"]["DB_SUBSET_DISTINCT_SCHEMA"].items() if spec["required"]
    )
    return {
        "format": 1,
        "version": manifest["sd_scripts_version"],
        "scripts": scripts,
        "dataset_config": {
            "general": dataset_level,
            "dataset": dataset_level,
            "subset": subset_level,
            "subset_required": required,
            "cli_only": sorted(manifest["dataset_config"]["ARGPARSE_SPECIFIC_SCHEMA"]),
        },
    }


def main(paths: list[str]) -> None:
    for path in paths:
        facts = convert(json.loads(Path(path).read_text()))
        out = VENDOR / f"{facts['version']}.json"
        out.write_text(json.dumps(facts, indent=1, sort_keys=False) + "\n")
        print(f"wrote {out}")


if __name__ == "__main__":
    main(sys.argv[1:])
