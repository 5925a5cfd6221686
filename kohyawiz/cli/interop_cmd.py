"""`kohyawiz import`, `kohyawiz export --kohya-gui`, `kohyawiz diff`."""

from __future__ import annotations

import argparse
import json
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

from kohyawiz.emit import preset_text, write_own_file
from kohyawiz.errors import UserError
from kohyawiz.interop.kohya import Imported, dataset_answers, import_settings, read_config


def imported_preset(imported: Imported, source: str) -> str:
    return preset_text(imported.answers, imported.overrides, f"imported from {Path(source).name}")


def load_import(file: str, dataset_config: str | None) -> Imported:
    path = Path(file).expanduser()
    flat, dataset = read_config(path, Path(dataset_config).expanduser() if dataset_config else None)
    imported = import_settings(flat, str(path))
    if dataset is not None:
        dataset_answers(dataset, imported)
    return imported


def run_import(args: argparse.Namespace) -> int:
    imported = load_import(args.file, args.dataset_config)
    text = imported_preset(imported, args.file)
    out = Path(args.out) if args.out else Path(f"{Path(args.file).stem}.kohyawiz.toml")
    from kohyawiz.presets import read_preset_file

    with tempfile.TemporaryDirectory() as scratch:  # the preset must load before it is kept
        probe = Path(scratch) / "probe.toml"
        probe.write_text(text)
        read_preset_file(probe)
    write_own_file(out, text, "preset")
    rows = [r.as_dict() for r in imported.report]
    if args.json:
        print(json.dumps({"preset": str(out), "kind": imported.kind, "report": rows}, indent=2))
        return 0
    for row in rows:
        print(f"  {row['status']:<15} {row['key']}: {row['note']}")
    tally = Counter(r["status"] for r in rows)
    print(f"{tally['mapped']} mapped, {tally['ignored']} ignored, {tally['not understood']} not understood")
    hints = []
    if imported.model_path:
        hints.append(f"--model {imported.model_path}")
    if imported.train_data_dir:
        hints.append(f"--dataset {imported.train_data_dir}")
    print(f"Wrote {out}; plan with: kohyawiz plan --preset {out} --vram GB " + " ".join(hints))
    return 0


def run_export(args: argparse.Namespace) -> int:
    if args.slurm is not None or args.skypilot is not None:
        from kohyawiz.cli.remote_cmd import run_remote_export

        return run_remote_export(args)
    from kohyawiz.answers import Answers
    from kohyawiz.interop.export import gui_config
    from kohyawiz.plan import build_plan
    from kohyawiz.trust import refuse_foreign

    folder = Path(args.dir).expanduser().resolve()
    data = _plan_json(folder)
    where = str(folder / "plan.json")
    try:
        answers = Answers.model_validate(data["answers"])
    except (KeyError, TypeError, ValueError) as exc:
        raise UserError("the plan's answers cannot be read; re-plan it", where=where) from exc
    # plan.json may be a stranger's: its overrides cross the trust boundary before they are exported.
    refuse_foreign(answers.overrides, where, what="a plan folder you did not write", fix="re-plan it yourself",
                   inside=[folder], trust_named=True, scope=folder, prefix="answers.overrides.")  # fmt: skip
    version = data.get("sd_scripts_version")
    plan = build_plan(answers, folder, sd_scripts_version=version if isinstance(version, str) else None)
    out = Path(args.kohya_gui) if args.kohya_gui else folder / "kohya_gui.json"
    write_own_file(out, json.dumps(gui_config(plan), indent=2) + "\n", "kohya_ss GUI config")
    print(f"Wrote {out}: load it in the kohya_ss GUI (LoRA tab, Configuration file)")
    return 0


def _plan_json(folder: Path) -> dict[str, Any]:
    from kohyawiz.door import read_json

    if not (folder / "plan.json").exists():
        raise UserError("no plan.json here; write one with `kohyawiz plan`", where=str(folder))
    data = read_json(folder / "plan.json", "plan.json")
    if not isinstance(data, dict):
        raise UserError("is not a plan kohyawiz wrote (not a table): re-plan it", where=str(folder / "plan.json"))
    return data


def run_diff(args: argparse.Namespace) -> int:
    from kohyawiz.interop.diff import diff_lines, load_side

    a = load_side(args.a)
    b = load_side(args.b) if args.b else _own_plan_side(args.a)
    print("\n".join(diff_lines(a, b)))
    return 0


def _own_plan_side(file: str) -> Any:
    """kohyawiz's plan for the answers a config implies, without its explicit settings."""
    from kohyawiz.answers import Answers
    from kohyawiz.interop.diff import Side
    from kohyawiz.plan import build_plan
    from kohyawiz.presets import deep_merge

    path = Path(file).expanduser()
    if path.is_dir() or path.name == "plan.json":
        raise UserError("give a kohya_ss or sd-scripts config to compare with kohyawiz's own plan")
    imported = load_import(file, None)
    answers = deep_merge({"vram_gb": 12, "concepts": [{"name": "concept", "images": 30}]}, imported.answers)
    answers.pop("network_options", None)
    plan = build_plan(Answers.model_validate(answers), Path(tempfile.gettempdir()) / "kohyawiz-diff")
    values = {d.key: d.value for d in plan.emitted()}
    reasons = {d.key: (d.rule, d.reason) for d in plan.decisions}
    return Side("kohyawiz's plan", values, reasons)
