"""`kohyawiz train DIR`, `kohyawiz runs`, `kohyawiz queue`: launch sd-scripts and watch it."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from kohyawiz.cli.bugs import escape_controls
from kohyawiz.errors import UserError
from kohyawiz.loss import sparkline
from kohyawiz.run import logparse
from kohyawiz.run.records.ledger import ResumePoint
from kohyawiz.run.sdscripts.locate import find_sd_scripts
from kohyawiz.run.train import PlanFolder, Watcher, build_argv, preflight, resume_overrun, resume_point, train


class ConsoleView:
    """Progress in the terminal: a bar over total steps with epoch, loss, rate, ETA and a sparkline."""

    def __init__(self, plain: bool) -> None:
        from rich.console import Console

        self.console = Console(stderr=True)
        self.plain = plain or not self.console.is_terminal
        self.losses: list[float] = []
        self.epoch = ""
        self.progress: Any = None
        self.task: Any = None
        self.last_plain = -1
        self.run_at: tuple[int, int] | None = None

    def watch(self, watcher: Watcher, event: logparse.Event) -> None:
        """`show`, at the run's step and total as the run's watcher counts them (resumes included)."""
        out = watcher.outcome
        if isinstance(event, logparse.Progress) and out.final_step is not None and out.total_steps:
            self.run_at = (out.final_step, out.total_steps)
        self.show(event)

    def __enter__(self) -> ConsoleView:
        if not self.plain:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self.progress = Progress(
                TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                TextColumn("{task.fields[extra]}"), console=self.console,
            )  # fmt: skip
            self.progress.start()
            self.task = self.progress.add_task("training", total=None, extra="")
        return self

    def __exit__(self, *exc: object) -> None:
        if self.progress is not None:
            self.progress.stop()

    def show(self, event: logparse.Event) -> None:
        match event:
            case logparse.EpochStarted(epoch=epoch, total=total):
                self.epoch = f"epoch {epoch}/{total}"
            case logparse.Progress(step=step, total=total, loss=loss, rate=rate):
                if self.run_at is not None:  # a resumed launch's bar counts its own steps: show the run's
                    step, total = self.run_at
                if loss is not None:
                    self.losses.append(loss)
                extra = (
                    f"{self.epoch} loss {loss:.4g} {rate or 0:.2f} it/s {sparkline(self.losses)}"
                    if loss is not None
                    else self.epoch
                )
                if self.progress is not None:
                    self.progress.update(self.task, completed=step, total=total, extra=extra)
                elif step != self.last_plain and (step % 10 == 0 or step == total):
                    self.last_plain = step
                    self.console.print(f"step {step}/{total} {extra}", highlight=False, markup=False)
            case logparse.CheckpointSaved(path=path):
                self.console.print(escape_controls(f"saved {path}"), highlight=False, markup=False)
            case logparse.Fatal(kind=kind, message=message, advice=advice):
                from rich.text import Text

                # The log's text is shown as text: never parsed as markup, control characters escaped.
                line = Text(f"sd-scripts: {kind}", style="red") + Text(escape_controls(f": {message}\n  -> {advice}", keep_newlines=True))
                self.console.print(line, highlight=False)


def resume_line(plan: PlanFolder, point: ResumePoint) -> str:
    total = plan.plan.get("figures", {}).get("total_steps")
    of = f" of {total}" if isinstance(total, int) else ""
    epoch = f", epoch {point.epoch}" if point.epoch is not None else ""
    line = f"resuming from {point.state} (step {point.step}{of}{epoch}; its step from {point.found_by})"
    if extra := resume_overrun(plan, point):
        line += (
            f"\nwarning: sd-scripts will train {extra} steps past the plan's {total}: a run counted in steps that is "
            "resumed past its first epoch ends with its last epoch (set max_train_epochs to count in epochs)"
        )
    return line


def run_train(args: argparse.Namespace) -> int:
    plan = PlanFolder.load(Path(args.dir))
    plan.check_trust()
    sd = find_sd_scripts(args.sd_scripts, args.python)
    resume = resume_point(plan) if args.resume else None
    argv = build_argv(plan, sd, resume)
    if resume is not None:
        print(resume_line(plan, resume))
    if args.dry_run:
        import shlex

        print(shlex.join(argv))
        print(f"(in {sd.root}; sd-scripts {sd.version.id}, found by {sd.found_by})")
        if plan.moved_from is not None:  # its config.toml still names the old folder until a run re-points it
            print(f"(written in {plan.moved_from}: training first re-points the plan's own paths at {plan.folder})")
        return 0
    checked = preflight(plan, sd)
    for warning in checked.warnings:
        print(f"warning: {warning}")
    if checked.errors:
        raise UserError(
            f"preflight: {checked.errors[0]}"
            + (f" (and {len(checked.errors) - 1} more)" if len(checked.errors) > 1 else "")
        )
    with ConsoleView(args.plain) as view:
        outcome, record = train(plan, sd, resume=resume, on_watch=view.watch)
    from kohyawiz.cli.runs_cmd import show_lines
    from kohyawiz.run.records.history import read_history
    from kohyawiz.run.records.plot import loss_plot

    history = read_history(record.folder)
    plot = loss_plot(history, record.folder / "loss.png") if history.losses else None
    print("\n".join(show_lines(history, plot, None)))
    print(f"  More: kohyawiz runs show {record.folder.name}")
    return 0 if outcome.status == "completed" else 1


def run_queue(args: argparse.Namespace) -> int:
    from kohyawiz.run import queue

    if args.action == "add":
        if not args.dir:
            raise UserError("`kohyawiz queue add` needs a plan folder")
        added = queue.add(Path(args.dir))
        print(f"queued {added.id}: {added.plan_dir}")
        return 0
    if args.action == "list":
        for listed in queue.load_queue():
            print(f"{listed.id}  {listed.status:<11} {listed.plan_dir}  {listed.run or ''}")
        return 0
    with queue.runner():
        failures = 0
        for stale in queue.mark_stale_running():
            print(f"{stale}: was left running by an earlier queue run; it resumes from its newest saved state")
        while True:
            entry = queue.claim_next()
            if entry is None:
                break
            try:
                plan = PlanFolder.load(Path(entry.plan_dir))
                sd = find_sd_scripts(args.sd_scripts, args.python)
                checked = preflight(plan, sd)
                if checked.errors:
                    raise UserError(checked.errors[0])
                resume = queue_resume(entry, plan)
                if resume is not None:
                    print(f"{entry.id}: {resume_line(plan, resume)}")
                with ConsoleView(True) as view:
                    outcome, record = train(plan, sd, resume=resume, on_watch=view.watch)
                queue.update(entry.id, status=outcome.status, run=record.folder.name)
                print(f"{entry.id}: {outcome.status}")
                if outcome.status == "interrupted":
                    return 130
                ok = outcome.status == "completed"
            except (UserError, OSError, ValueError) as exc:
                queue.update(entry.id, status="failed")
                print(f"{entry.id}: failed: {exc}")
                ok = False
            if not ok:
                failures += 1
                if args.stop_on_failure:
                    return 1
        return 1 if failures else 0


def queue_resume(entry: Any, plan: PlanFolder) -> ResumePoint | None:
    """An entry that was interrupted continues from its newest saved state (when there is one)."""
    if entry.status != "interrupted":
        return None
    try:
        return resume_point(plan)
    except UserError as exc:
        print(f"{entry.id}: starts again from the first step: {exc}")
        return None
