"""Plain-text views of a plan, shared by `plan`, `explain` and `demo`."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from kohyawiz.memory.words import memory_line
from kohyawiz.plan import Plan
from kohyawiz.rules.processes import per_card

_MARK = {"error": "x", "warn": "!", "info": "i"}


def findings_lines(findings: Iterable[Mapping[str, str]], per_rule: int = 3) -> list[str]:
    """Findings, at most `per_rule` of each rule and level, then a count of the rest."""
    lines: list[str] = []
    shown: dict[tuple[str, str], int] = {}
    hidden: dict[tuple[str, str], int] = {}
    for f in findings:
        key = (f["rule"], f["level"])
        if shown.get(key, 0) < per_rule:
            shown[key] = shown.get(key, 0) + 1
            lines.append(f"  {_MARK.get(f['level'], '-')} [{f['rule']}] {f['message']}")
        else:
            hidden[key] = hidden.get(key, 0) + 1
    for (rule, level), count in hidden.items():
        lines.append(f"  {_MARK.get(level, '-')} [{rule}] ... and {count} more (`kohyawiz check` lists them all)")
    return lines


def print_summary(plan: Plan, written: Mapping[str, Path]) -> None:
    fig = plan.figures
    print(f"Planned {plan.script} for sd-scripts {plan.interface.version} in {plan.out_dir}")
    for concept in fig.concepts:
        print(
            f"  {concept.name}: {concept.images} images x {concept.repeats} repeats, "
            f"{concept.passes_per_image} passes per image"
        )
    exact = "" if fig.exact else " (estimated: image sizes unknown)"
    if fig.total_steps == fig.epochs * fig.steps_per_epoch:
        print(f"  {fig.epochs} epochs x {fig.steps_per_epoch} steps = {fig.total_steps} steps{exact}")
    else:
        print(f"  {fig.total_steps} steps (max_train_steps) over {fig.epochs} epochs of {fig.steps_per_epoch}{exact}")
    split = plan.value("validation_split")
    if split:
        print(f"  validation: {split:g} of each concept's images set aside for a validation loss (K-VALIDATE)")
    if plan.vram is not None:
        print(f"  {vram_line(plan.vram.as_dict(), per_card(plan.answers.processes))}")
    notes = [f.as_dict() for f in plan.findings if f.level != "info"]
    if notes:
        print("Warnings:")
        print("\n".join(findings_lines(notes)))
    print("Wrote " + ", ".join(sorted(written)) + f"; `kohyawiz explain {plan.out_dir}` tells why.")


def vram_line(vram: Mapping[str, Any], cards: str = "") -> str:
    """`VRAM about X of Y GB` with the phase that decides and the reserve, what the ladder changed
    to get there (and, on several GPUs, that each card needs it), then `RAM about X of Y GB`."""
    return memory_line(vram, cards)


def vram_parts(vram: Mapping[str, Any]) -> str:
    parts = ", ".join(f"{name} {gb:.2f}" for name, gb in vram["parts"].items() if gb)
    phases = vram.get("phases")
    if isinstance(phases, dict) and phases:
        parts += "\n  GB by phase: " + ", ".join(f"{k.replace('_', ' ')} {v:.1f}" for k, v in phases.items())
    ram = vram.get("ram")
    if isinstance(ram, dict) and ram.get("parts"):
        parts += "\n  RAM GB by part: " + ", ".join(f"{k.replace('_', ' ')} {v:.1f}" for k, v in ram["parts"].items() if v)
    if vram.get("measured"):
        parts += f"\n  activations: {vram['measured']}"
    return parts




def explain_lines(data: Mapping[str, Any]) -> list[str]:
    lines = [f"Plan for {data['script']} (sd-scripts {data['sd_scripts_version']})", ""]
    width = max((len(d["key"]) for d in data["decisions"]), default=10)
    lines.append("Settings:")
    for decision in data["decisions"]:
        value = "(not set: sd-scripts default)" if decision["value"] is None else _show(decision["value"])
        source = "" if decision["source"] == "rule" else f" <{decision['source']}>"
        lines.append(f"  {decision['key']:<{width}} = {value}")
        lines.append(f"  {'':<{width}}   [{decision['rule']}] {decision['reason']}{source}")
    lines += ["", "Passes and steps:"]
    lines += [f"  {line}" for line in data["figures"]["arithmetic"]]
    vram = data["figures"].get("vram")
    if isinstance(vram, dict) and "parts" in vram:
        lines += ["", "Memory:", f"  {vram_line(vram)}", f"  GB by part: {vram_parts(vram)}"]
    if any(d["rule"] == "M-BALANCE" for d in data["decisions"]) and len(data["figures"]["concepts"]) > 1:
        lines.append(
            "  (M-BALANCE: guide part 6 also multiplies by the epoch count; that only matches its goal of"
            " equal passes per concept at one epoch, so kohyawiz balances passes per epoch instead)"
        )
    if data["findings"]:
        lines += ["", "Findings:", *findings_lines(data["findings"])]
    lines += ["", "Launch:", "  " + " ".join(_quote(a) for a in data["launch"])]
    return lines


def _show(value: Any) -> str:
    if isinstance(value, list):
        return " ".join(str(v) for v in value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _quote(arg: str) -> str:
    return f"'{arg}'" if any(c in arg for c in " '\"$") else arg
