"""`kohyawiz runs [list|show ID|compare A B ...] [--json]`: runs a person reads."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from kohyawiz.errors import UserError
from kohyawiz.run.records.history import RunHistory, read_history


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    whole = int(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h {minutes:02d}m" if hours else f"{minutes}m {secs:02d}s"


def _of(value: object, total: object) -> str:
    if value is None and total is None:
        return "-"
    return f"{'-' if value is None else value}/{'-' if total is None else total}"


def _loss(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"


def run_line(history: RunHistory) -> str:
    line = (
        f"{history.folder.name}  {history.status:<11} step {_of(history.final_step, history.total_steps)}  "
        f"epoch {_of(history.epoch, history.epochs)}  loss {_loss(history.final_loss)} "
        f"(avg {_loss(history.smoothed_loss)})  {duration(history.seconds)}"
    )
    if len(history.segments) > 1:
        line += f"  ({len(history.segments)} launches, from {history.segments[0].id})"
    if history.reason:
        line += f"  {history.reason}"
    return line


def show_lines(history: RunHistory, plot: Path | None, sheet: Path | None) -> list[str]:
    lines = [f"Run {history.folder.name}: {history.status}, {duration(history.seconds)}"]
    lines.append(
        f"  steps {_of(history.final_step, history.total_steps)}, epochs {_of(history.epoch, history.epochs)}, "
        f"final loss {_loss(history.final_loss)} (moving average {_loss(history.smoothed_loss)})"
    )
    if history.reason:
        lines.append(f"  why: {history.reason}")
    if len(history.segments) > 1:
        lines.append(f"  One run over {len(history.segments)} launches (steps are the run's own):")
        for segment in history.segments:
            resumed = segment.resumed_from or {}
            start = f"resumed from {Path(str(resumed.get('state'))).name}" if resumed else "started"
            reached = "-" if segment.steps_done is None else segment.steps_done
            lines.append(f"    {segment.id}: {start} at step {segment.start_step}, reached {reached}, {segment.status}")
    if history.advice:
        lines.append(f"  what to do: {history.advice}")
    if history.checkpoints:
        validated = any(c.validation_loss is not None for c in history.checkpoints)
        lines.append(
            "  Checkpoints (epoch, step, training loss around it, "
            + ("validation loss, " if validated else "")
            + "samples):"
        )
        for checkpoint in history.checkpoints:
            mark = "  <- try this one first" if history.pick is checkpoint else ""
            measured = f"val {_loss(checkpoint.validation_loss):<8} " if validated else ""
            lines.append(
                f"    epoch {'-' if checkpoint.epoch is None else checkpoint.epoch:<4} "
                f"step {'-' if checkpoint.step is None else checkpoint.step:<7} "
                f"loss {_loss(checkpoint.loss_around):<8} {measured}samples {len(checkpoint.samples):<3} "
                f"{checkpoint.path}{mark}"
            )
    lines.append(f"  Pick: {history.pick_reason}")
    if history.loss_shift:
        lines.append(f"  [A-LOSS] {history.loss_shift['message']}")
    for output in history.outputs:
        for mismatch in output.get("mismatches", []):
            lines.append(f"  ! {output.get('path')}: {mismatch}")
    if plot is not None:
        lines.append(f"  Loss plot: {plot}")
    if sheet is not None:
        lines.append(f"  Samples by checkpoint: {sheet}")
    if history.tensorboard is not None:
        lines.append(f"  TensorBoard: tensorboard --logdir {history.tensorboard}  (in sd-scripts' environment)")
    lines += [f"  {line}" for line in run_memory_lines(history.folder)]
    lines.append(f"  Log: {history.folder / 'train.log'}")
    return lines


def run_memory_lines(folder: Path) -> list[str]:
    """Predicted beside measured memory, from the record's memory.json (none for older runs)."""
    from kohyawiz.run.peaks import memory_lines
    from kohyawiz.run.records.record import read_json

    record = read_json(folder / "memory.json")
    return memory_lines(record) if isinstance(record, dict) else []


def run_runs(args: argparse.Namespace) -> int:
    from kohyawiz.run.records.record import find_run, list_runs

    ids: list[str] = list(args.ids or [])
    if args.action == "list":
        # one line per run: a record a later launch resumed from is shown through that launch
        every = (read_history(folder) for folder in list_runs())
        histories = [h for h in every if not h.segments or h.folder.name == h.segments[-1].id]
        if args.json:
            print(json.dumps([h.as_dict() for h in histories], indent=2))
        elif not histories:
            print("No runs yet: `kohyawiz train DIR` records one.")
        for history in histories if not args.json else []:
            print(run_line(history))
        return 0
    if args.action == "show":
        if len(ids) != 1:
            raise UserError("`kohyawiz runs show` needs one run id (see `kohyawiz runs`)")
        history = read_history(find_run(ids[0]))
        if args.json:
            print(json.dumps(history.as_dict(), indent=2))
            return 0
        from kohyawiz.run.records.plot import contact_sheet, loss_plot

        plot = loss_plot(history, history.folder / "loss.png") if history.losses else None
        sheet = contact_sheet(history, history.folder / "contact_sheet.png")
        print("\n".join(show_lines(history, plot, sheet)))
        return 0
    if len(ids) < 2:
        raise UserError("`kohyawiz runs compare` needs two run ids or more")
    histories = [read_history(find_run(i)) for i in ids]
    if args.json:
        print(json.dumps([h.as_dict() for h in histories], indent=2))
        return 0
    from kohyawiz.run.records.plot import compare_plot
    from kohyawiz.run.records.record import runs_home

    target = Path(args.out) if args.out else runs_home() / "compare.png"
    target.parent.mkdir(parents=True, exist_ok=True)
    for history in histories:
        print(run_line(history))
    print(f"Compared: {compare_plot(histories, target)}")
    return 0
