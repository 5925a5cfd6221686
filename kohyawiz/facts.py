"""What kohyawiz knows about each supported sd-scripts version (vendor/sd-scripts-facts/).

sd-scripts ignores unknown keys in `--config_file` and checks neither types nor choices there,
so every key and value kohyawiz emits is checked against these facts first.
"""

from __future__ import annotations

import difflib
import json
import math
import tomllib
from dataclasses import dataclass
from functools import cache
from typing import Any, Literal

from kohyawiz.errors import UserError
from kohyawiz.resources import vendor_dir

ArgKind = Literal["switch", "value", "list"]

# Argument names whose dataset-config key is spelt differently.
_DATASET_ALIASES = {"train_batch_size": "batch_size", "dataset_repeats": "num_repeats"}


@dataclass(frozen=True)
class ArgFact:
    dest: str
    flag: str
    kind: ArgKind
    type: str | None
    default: Any
    choices: tuple[Any, ...] | None


@dataclass(frozen=True)
class VersionInfo:
    id: str
    commit: str
    date: str
    image_extensions: tuple[str, ...]
    bucket_reso_steps_divisor: int


@dataclass(frozen=True)
class DatasetRoute:
    """Where an argument takes effect when a dataset config is given."""

    level: Literal["general", "subset"]
    key: str


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_float(value: Any) -> bool:
    return isinstance(value, float) and math.isfinite(value)


def _check_scalar(kind: str | None, value: Any) -> bool:
    match kind:
        case "str" | "path":
            return isinstance(value, str)
        case "int":
            return _is_int(value)
        case "float":
            return _is_float(value)
        case "number":
            return _is_int(value) or _is_float(value)
        case "bool":
            return isinstance(value, bool)
        case _:
            return False


def _check_dataset_value(kind: str, value: Any) -> bool:
    match kind:
        case "int_or_int_pair":
            return _is_int(value) or (isinstance(value, list) and len(value) == 2 and all(_is_int(v) for v in value))
        case "float_pair":
            return isinstance(value, list) and len(value) == 2 and all(_is_float(v) for v in value)
        case "table":
            return isinstance(value, dict)
        case _:
            return _check_scalar(kind, value)


class Interface:
    """The arguments and dataset-config keys of one sd-scripts version."""

    def __init__(self, info: VersionInfo, raw: dict[str, Any]) -> None:
        self.info = info
        self.args: dict[str, dict[str, ArgFact]] = {
            script: {
                dest: ArgFact(
                    dest=dest,
                    flag=fact["flag"],
                    kind=fact["kind"],
                    type=fact.get("type"),
                    default=fact["default"],
                    choices=tuple(fact["choices"]) if fact.get("choices") else None,
                )
                for dest, fact in args.items()
            }
            for script, args in raw["scripts"].items()
        }
        config = raw["dataset_config"]
        self.dataset_keys: dict[str, dict[str, str]] = {
            level: dict(config[level]) for level in ("general", "dataset", "subset")
        }
        self.subset_required: tuple[str, ...] = tuple(config["subset_required"])

    @property
    def version(self) -> str:
        return self.info.id

    def arg(self, script: str, key: str) -> ArgFact | None:
        return self.args.get(script, {}).get(key)

    def has_script(self, script: str) -> bool:
        return script in self.args

    def suggest(self, script: str, key: str) -> str:
        close = difflib.get_close_matches(key, self.args.get(script, {}), n=1)
        return f" (did you mean {close[0]}?)" if close else ""

    def check_arg(self, script: str, key: str, value: Any) -> str | None:
        """Say what is wrong with `key = value` in a --config_file, or None when it is right."""
        fact = self.arg(script, key)
        if fact is None:
            return f"{key} is not an argument of {script} in sd-scripts {self.version}{self.suggest(script, key)}"
        if fact.kind == "switch":
            if not isinstance(value, bool):
                return f"{key} is a switch: give true or false, not {value!r}"
            return None
        if fact.kind == "list":
            # text_encoder_lr is a list on newer versions and still takes one number on purpose.
            if fact.type == "float" and _check_scalar("number", value):
                return None
            if not isinstance(value, list) or not value:
                return f"{key} takes a list of {fact.type} values, not {value!r}"
            bad = [v for v in value if not _check_scalar(fact.type, v)]
            if bad and not (fact.type == "float" and all(_check_scalar("number", v) for v in bad)):
                return f"{key} takes a list of {fact.type} values; {bad[0]!r} is not one"
            return None
        if not _check_scalar(fact.type, value):
            return f"{key} takes a {fact.type} value, not {value!r}"
        if fact.choices is not None and value not in fact.choices:
            allowed = ", ".join(repr(c) for c in fact.choices if c is not None)
            return f"{key} = {value!r} is not one of {allowed}"
        return None

    def check_dataset_key(self, level: str, key: str, value: Any) -> str | None:
        kind = self.dataset_keys[level].get(key)
        if kind is None:
            return f"{key} is not allowed in [{level}] of a dataset config in sd-scripts {self.version}"
        if not _check_dataset_value(kind, value):
            return f"{key} in [{level}] takes a {kind.replace('_', ' ')} value, not {value!r}"
        return None

    @property
    def dataset_routes(self) -> dict[str, DatasetRoute]:
        """Arguments that a dataset config overrides, and where they must go to take effect."""
        return _routes(self)


@cache
def _routes(interface: Interface) -> dict[str, DatasetRoute]:
    routes: dict[str, DatasetRoute] = {}
    for dest in interface.args["train_network.py"]:
        key = _DATASET_ALIASES.get(dest, dest)
        if key in interface.dataset_keys["general"]:
            routes[dest] = DatasetRoute("general", key)
        elif key in interface.dataset_keys["subset"]:
            routes[dest] = DatasetRoute("subset", key)
    return routes


@cache
def known_versions() -> tuple[VersionInfo, ...]:
    raw = tomllib.loads((vendor_dir() / "sd-scripts-facts" / "versions.toml").read_text())
    return tuple(
        VersionInfo(
            id=v["id"],
            commit=v["commit"],
            date=v["date"],
            image_extensions=tuple(v["image_extensions"]),
            bucket_reso_steps_divisor=v["bucket_reso_steps_divisor"],
        )
        for v in raw["versions"]
    )


@cache
def default_version() -> str:
    raw = tomllib.loads((vendor_dir() / "sd-scripts-facts" / "versions.toml").read_text())
    return str(raw["default"])


def _learned_version(version_id: str) -> tuple[VersionInfo, dict[str, Any]] | None:
    from kohyawiz.learned import learned_file

    path = learned_file(version_id)
    if path is None:
        return None
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        extra = raw["learned"]
        info = VersionInfo(
            id=version_id, commit=str(extra["key"]), date="",
            image_extensions=tuple(extra["image_extensions"]) or tuple(_DEFAULT_EXTENSIONS),
            bucket_reso_steps_divisor=int(extra["bucket_reso_steps_divisor"]),
        )  # fmt: skip
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise UserError(f"the learned sd-scripts facts are damaged ({exc}); learn the checkout again", where=str(path)) from exc
    return info, raw


_DEFAULT_EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".PNG", ".JPG", ".JPEG", ".WEBP", ".BMP")


def resolve_version(name: str | None) -> VersionInfo:
    """Find a supported version by id, tag or commit prefix (or a learned checkout's id)."""
    wanted = (name or default_version()).strip()
    learned = _learned_version(wanted) if wanted.startswith("learned-") else None
    if learned is not None:
        return learned[0]
    for info in known_versions():
        if wanted in (info.id, info.commit) or (len(wanted) >= 7 and info.commit.startswith(wanted)):
            return info
        if wanted.lower() in ("main", "head") and info.id.startswith("main-"):
            return info
    ids = ", ".join(v.id for v in known_versions())
    raise UserError(f"sd-scripts version {wanted!r} is not one kohyawiz knows; use one of {ids}")


@cache
def load_interface(name: str | None = None) -> Interface:
    learned = _learned_version(name.strip()) if name and name.strip().startswith("learned-") else None
    if learned is not None:
        return Interface(*learned)
    info = resolve_version(name)
    raw = json.loads((vendor_dir() / "sd-scripts-facts" / f"{info.id}.json").read_text())
    return Interface(info, raw)
