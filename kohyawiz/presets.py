"""Preset files: partial answers plus explicit overrides, meant to be checked into repos.

A preset may `extends` another (a shipped name or a path relative to itself); later files win,
key by key. Presets carry no machine paths, so they work on anyone's machine.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from kohyawiz.answers import Answers, OverrideValue
from kohyawiz.door import read_toml
from kohyawiz.errors import UserError
from kohyawiz.resources import presets_dir
from kohyawiz.trust import foreign_refusals, leads_out

SCHEMA_VERSION = 1
# A complete, valid set of answers that a preset's own answers are laid over, so that a
# preset's keys can be checked one file at a time.
_PROBE: dict[str, Any] = {
    "subject": "character",
    "model": {"family": "sd1"},
    "vram_gb": 12,
    "concepts": [{"name": "probe"}],
}


class PresetFile(BaseModel):
    """A kohyawiz preset (TOML)."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    schema_version: Literal[1]
    """Format version of this file."""
    description: str = ""
    """One line on what the preset is for."""
    extends: str | None = None
    """A shipped preset name or a path (relative to this file) whose values this file refines."""
    answers: dict[str, Any] = Field(default_factory=dict)
    """Partial answers: any field of kohyawiz's answers; the rest comes from flags or the wizard."""
    overrides: dict[str, OverrideValue] = Field(default_factory=dict)
    """sd-scripts arguments set explicitly; they beat every rule."""


@dataclass
class LoadedPreset:
    name: str
    path: Path
    description: str
    answers: dict[str, Any]
    overrides: dict[str, Any]
    chain: list[Path] = field(default_factory=list)


def deep_merge(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    merged = copy.deepcopy(base)
    for key, value in top.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def shipped_presets() -> dict[str, Path]:
    return {p.stem: p for p in sorted(presets_dir().glob("*.toml"))}


def find_preset(name_or_path: str, relative_to: Path | None = None) -> Path:
    candidate = Path(name_or_path).expanduser()
    if relative_to is not None and not candidate.is_absolute():
        candidate = relative_to / candidate
    if candidate.is_file():
        return candidate.resolve()
    shipped = shipped_presets()
    if name_or_path in shipped:
        return shipped[name_or_path]
    names = ", ".join(shipped)
    raise UserError(f"no preset file or shipped preset by that name; shipped: {names}", where=name_or_path)


def _error_line(exc: ValidationError, prefix: str) -> str:
    first = exc.errors()[0]
    loc = ".".join(str(p) for p in first["loc"])
    return f"{prefix}{loc}: {first['msg']}"


def read_preset_file(path: Path) -> PresetFile:
    raw = read_toml(path, "preset")
    version = raw.get("schema_version")
    if version != SCHEMA_VERSION:
        raise UserError(
            f"schema_version is {version!r}; this kohyawiz reads schema_version = {SCHEMA_VERSION}",
            where=str(path),
        )
    try:
        preset = PresetFile.model_validate(raw)
    except ValidationError as exc:
        raise UserError(_error_line(exc, ""), where=str(path)) from exc
    try:
        Answers.model_validate(_probe_with(preset.answers))
    except ValidationError as exc:
        raise UserError(_error_line(exc, "answers."), where=str(path)) from exc
    _refuse_machine_paths(preset, path)
    return preset


def _probe_with(answers: dict[str, Any]) -> dict[str, Any]:
    return deep_merge(_PROBE, answers)


MAX_EXTENDS = 16
"""How long an `extends` chain may be."""


def _refuse_machine_paths(preset: PresetFile, path: Path) -> None:
    """A preset crosses the trust boundary (kohyawiz/trust.py) as a whole: its overrides, the
    overrides and network options inside its answers, and no machine path in any answer."""
    model = preset.answers.get("model")
    if isinstance(model, dict) and "path" in model:
        raise UserError("answers.model.path is a machine path: pass --model instead", where=str(path))
    for i, concept in enumerate(preset.answers.get("concepts") or []):
        if isinstance(concept, dict) and "folder" in concept:
            raise UserError(f"answers.concepts.{i}.folder is a machine path: pass --dataset instead", where=str(path))
    inner = preset.answers.get("overrides") or {}
    options = preset.answers.get("network_options") or {}
    tables = (("answers.overrides.", inner), ("answers.network_options.", options), ("overrides.", preset.overrides))
    for prefix, table in tables:
        if not isinstance(table, dict):
            continue
        refused = foreign_refusals(table, prefix=prefix)
        if refused:
            key = refused[0].key.rpartition(".")[2]
            more = f" (and {len(refused) - 1} more)" if len(refused) > 1 else ""
            raise UserError(
                f"{refused[0].line()}: a shared preset cannot set it{more}; presets work on any machine and send "
                f"nothing elsewhere: pass --set {key}=... yourself if you mean it",
                where=str(path),
            )


def _refuse_parent_out(extends: str, path: Path) -> None:
    """A preset's `extends` is a shipped preset or a file in the preset's own folder (or below):
    a shared preset must not make kohyawiz read `/etc/passwd` or `../../x`, nor a link out."""
    folder = path.parent.resolve()
    parent = find_preset(extends, path.parent)
    if parent in shipped_presets().values() and not (path.parent / Path(extends).expanduser()).exists():
        return
    if leads_out(extends) or not (folder == parent.parent or folder in parent.parents):
        raise UserError(
            f"extends {extends[:120]!r} leads out of the preset's folder: a preset extends a shipped preset or a "
            "file beside it; copy that file next to it",
            where=str(path),
        )


def load_preset(name_or_path: str, relative_to: Path | None = None, _seen: tuple[Path, ...] = ()) -> LoadedPreset:
    path = find_preset(name_or_path, relative_to)
    if path in _seen:
        loop = " -> ".join(p.name for p in (*_seen, path))
        raise UserError(f"presets extend each other in a loop: {loop}", where=str(path))
    if len(_seen) >= MAX_EXTENDS:
        raise UserError(f"more than {MAX_EXTENDS} presets extend each other: flatten the chain", where=str(path))
    preset = read_preset_file(path)
    answers: dict[str, Any] = {}
    overrides: dict[str, Any] = {}
    chain: list[Path] = [path]
    if preset.extends:
        _refuse_parent_out(preset.extends, path)
        parent = load_preset(preset.extends, path.parent, (*_seen, path))
        answers, overrides, chain = parent.answers, dict(parent.overrides), [*parent.chain, path]
    own = dict(preset.answers)
    # Overrides inside [answers] are a preset's overrides like any other: never the person's own.
    inner = own.pop("overrides", None) or {}
    answers = deep_merge(answers, own)
    overrides.update(inner)
    overrides.update(preset.overrides)
    return LoadedPreset(path.stem, path, preset.description, answers, overrides, chain)


def _strip_required(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _strip_required(v) for k, v in node.items() if k != "required"}
    if isinstance(node, list):
        return [_strip_required(v) for v in node]
    return node


def preset_schema() -> dict[str, Any]:
    """JSON Schema of a preset file, with the answers' fields all optional."""
    schema = PresetFile.model_json_schema()
    answers = _strip_required(Answers.model_json_schema())
    defs = answers.pop("$defs", {})
    answers.pop("title", None)
    schema["properties"]["answers"] = {
        **answers,
        "title": "Answers",
        "description": PresetFile.model_fields["answers"].description,
    }
    schema.setdefault("$defs", {}).update(defs)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://kohyawiz.invalid/schemas/preset-v1.json"
    return schema
