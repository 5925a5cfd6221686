"""Two configs side by side, setting by setting, with kohyawiz's rule where its plan differs."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kohyawiz.door import read_json
from kohyawiz.errors import UserError
from kohyawiz.interop.kohya import dataset_answers, import_settings, read_config


@dataclass
class Side:
    name: str
    values: dict[str, Any]
    reasons: dict[str, tuple[str, str]]
    """key -> (rule, reason) when the side is a kohyawiz plan."""


def load_side(path_text: str) -> Side:
    path = Path(path_text).expanduser()
    if path.is_dir():
        path = path / "plan.json"
    if path.name == "plan.json":
        data = read_json(path, "plan.json")
        if not isinstance(data, dict) or not isinstance(data.get("decisions"), list):
            raise UserError("not a kohyawiz plan.json (no decisions): re-plan it", where=str(path))
        decisions = [
            d for d in data["decisions"] if isinstance(d, dict) and isinstance(d.get("key"), str)
        ]  # a damaged entry is skipped, not fatal
        values = {d["key"]: d.get("value") for d in decisions if d.get("scope") == "arg" and d.get("value") is not None}
        reasons = {d["key"]: (str(d.get("rule", "?")), str(d.get("reason", ""))) for d in decisions}
        return Side(str(path.parent), values, reasons)
    flat, dataset = read_config(path)
    imported = import_settings(flat, str(path))
    if dataset is not None:
        dataset_answers(dataset, imported)
    return Side(str(path), config_values(imported.answers, imported.overrides), {})


OPTIMIZER_NAMES = {"prodigy": "Prodigy", "dadaptadam": "DAdaptAdam", "adamw": "AdamW", "adamw8bit": "AdamW8bit"}


def config_values(answers: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """The sd-scripts values a config sets itself, answers included, under the diff's names."""
    values = dict(overrides)
    if answers.get("precision"):
        values.setdefault("mixed_precision", answers["precision"])
    if answers.get("optimizer"):
        values.setdefault("optimizer_type", OPTIMIZER_NAMES[answers["optimizer"]])
    if answers.get("attention") in ("xformers", "sdpa"):
        values.setdefault(answers["attention"], True)
    if answers.get("network"):
        values["(network)"] = answers["network"]
    for key, value in (answers.get("network_options") or {}).items():
        values[f"(network) {key}"] = value
    return values


def _normal(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, list):
        return [_normal(v) for v in value]
    return value


def plan_keys(side: Side) -> dict[str, Any]:
    """Plan values under the names an imported config uses for answers."""
    values = dict(side.values)
    if "network_module" in values:
        module = values.pop("network_module")
        args = dict(str(a).split("=", 1) for a in values.pop("network_args", None) or [] if "=" in str(a))
        network = args.get("algo") or {"networks.lora": "lora", "networks.dylora": "dylora"}.get(module, module)
        values["(network)"] = "locon" if network == "lora" and module == "lycoris.kohya" else network
        for key, value in args.items():
            if key not in ("algo", "preset"):
                values[f"(network) {key}"] = (
                    _normal(float(value)) if value.replace(".", "", 1).lstrip("-").isdigit() else value
                )
    return values


def diff_lines(a: Side, b: Side) -> list[str]:
    left, right = plan_keys(a), plan_keys(b)
    lines = [f"--- {a.name}", f"+++ {b.name}"]
    same = 0
    for key in sorted(set(left) | set(right)):
        lv, rv = _normal(left.get(key)), _normal(right.get(key))
        if lv == rv:
            same += 1
            continue
        why = b.reasons.get(key) or a.reasons.get(key)
        note = f"   [{why[0]}] {why[1]}" if why else ""
        lines.append(f"  {key}: {_show(lv)} -> {_show(rv)}{note}")
    lines.append(f"{same} settings the same, {len(lines) - 2} different")
    return lines


def _show(value: Any) -> str:
    if value is None:
        return "(not set)"
    if isinstance(value, list):
        return " ".join(str(v) for v in value)
    return repr(value) if isinstance(value, str) else str(value)
