"""Check the sd-scripts files Kohya users bring, against the target version's own interface:
a dataset config (per level: general, datasets, subsets) and a --config_file TOML.

sd-scripts stops on a dataset config with an unknown or mistyped key (voluptuous), but takes
any key in a --config_file and ignores the unknown ones without a word, and never checks their
types there (a string "false" is true). Findings are errors where sd-scripts stops or misreads,
warnings where it silently ignores.
"""

from __future__ import annotations

import difflib
from typing import Any

from kohyawiz.decisions import Finding
from kohyawiz.facts import Interface

RULE = "K-CHECK"
_LEVELS = {"general": "general", "datasets": "dataset", "subsets": "subset"}


def is_dataset_config(data: dict[str, Any]) -> bool:
    return (bool(data) and set(data) <= {"general", "datasets"}) or "datasets" in data


def _near(key: str, known: list[str]) -> str:
    close = difflib.get_close_matches(key, known, n=1)
    return f" (did you mean {close[0]}?)" if close else ""


def _level_findings(interface: Interface, level: str, table: dict[str, Any], where: str) -> list[Finding]:
    out = []
    known = sorted(interface.dataset_keys[level])
    for key, value in table.items():
        if key in ("datasets", "subsets") and level != "subset":
            continue
        if key not in interface.dataset_keys[level]:
            elsewhere = [name for name, keys in interface.dataset_keys.items() if key in keys and name != level]
            names = {"general": "[general]", "dataset": "[[datasets]]", "subset": "[[datasets.subsets]]"}
            hint = f"; it belongs in {' or '.join(names[e] for e in elsewhere)}" if elsewhere else _near(key, known)
            out.append(Finding(RULE, "error", f"{where}: {key} is not allowed there in sd-scripts "
                                              f"{interface.version}{hint}; sd-scripts stops on it"))  # fmt: skip
            continue
        problem = interface.check_dataset_key(level, key, value)
        if problem:
            out.append(Finding(RULE, "error", f"{where}: {problem}; sd-scripts stops on it"))
    return out


def check_dataset_config(interface: Interface, data: dict[str, Any]) -> list[Finding]:
    out = []
    for key in data:
        if key not in ("general", "datasets"):
            out.append(Finding(RULE, "error", f"{key} is not allowed at the top of a dataset config (only [general] "
                                              f"and [[datasets]]){_near(key, ['general', 'datasets'])}"))  # fmt: skip
    general = data.get("general", {})
    if not isinstance(general, dict):
        out.append(Finding(RULE, "error", "[general] must be a table"))
        general = {}
    out += _level_findings(interface, "general", general, "[general]")
    datasets = data.get("datasets", [])
    if not isinstance(datasets, list):
        return [*out, Finding(RULE, "error", "datasets must be an array of tables: [[datasets]]")]
    for i, dataset in enumerate(datasets):
        if not isinstance(dataset, dict):
            out.append(Finding(RULE, "error", f"datasets[{i}] must be a table"))
            continue
        out += _level_findings(interface, "dataset", dataset, f"[[datasets]] #{i + 1}")
        subsets = dataset.get("subsets", [])
        if not isinstance(subsets, list):
            out.append(Finding(RULE, "error", f"[[datasets]] #{i + 1}: subsets must be an array of tables"))
            continue
        for j, subset in enumerate(subsets):
            where = f"[[datasets.subsets]] #{i + 1}.{j + 1}"
            if not isinstance(subset, dict):
                out.append(Finding(RULE, "error", f"{where} must be a table"))
                continue
            out += _level_findings(interface, "subset", subset, where)
            if not any(k in subset for k in interface.subset_required) and "metadata_file" not in subset:
                out.append(Finding(RULE, "error", f"{where}: image_dir is required"))
    return out


def flatten_config(data: dict[str, Any]) -> dict[str, Any]:
    """One level, as sd-scripts' read_config_from_file lifts the keys of each section."""
    flat: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, dict):
            flat.update(value)
        else:
            flat[key] = value
    return flat


def check_config_file(interface: Interface, script: str, data: dict[str, Any]) -> list[Finding]:
    out = []
    known = sorted(interface.args[script])
    for key, value in flatten_config(data).items():
        fact = interface.arg(script, key)
        if fact is None:
            out.append(Finding(RULE, "warn", f"{key} is not an argument of {script} in sd-scripts {interface.version}"
                                             f"{_near(key, known)}: sd-scripts ignores it without a word"))  # fmt: skip
            continue
        problem = interface.check_arg(script, key, value)
        if problem:
            out.append(Finding(RULE, "error", f"{problem}: sd-scripts does not check it here and misreads it or stops"))
    return out


def guess_script(interface: Interface, data: dict[str, Any]) -> str:
    """The trainer that knows most of the file's keys (a Flux config names t5xxl and ae, an SDXL
    one its text-encoder caching); on a tie the older trainer, train_network.py first."""
    from kohyawiz.families import trainer_scripts

    flat = set(flatten_config(data))
    scripts = [s for s in trainer_scripts() if interface.has_script(s)]
    return max(scripts, key=lambda s: (len(flat & set(interface.args[s])), -scripts.index(s)))
