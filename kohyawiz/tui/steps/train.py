"""Step 8: train: the sd-scripts folder (remembered), the exact command, a live bar with loss and
a clean stop; a failed preflight or run is shown in full, with its advice."""

from __future__ import annotations

import shlex
from collections.abc import Callable
from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.message import Message
from textual.widgets import Button, Input, Label, Log, ProgressBar, Static

from kohyawiz.errors import UserError
from kohyawiz.tui import remembered
from kohyawiz.tui.steps.base import Step
from kohyawiz.tui.text import error, join, plain, strong, warning


class TrainingEvent(Message):
    """A parsed sd-scripts event and the watcher whose state it changed, posted from the worker."""

    def __init__(self, event: Any, watcher: Any) -> None:
        super().__init__()
        self.event = event
        self.watcher = watcher


class TrainingDone(Message):
    def __init__(self, outcome: Any, error_text: str | None = None) -> None:
        super().__init__()
        self.outcome = outcome
        self.error_text = error_text


class TrainStep(Step):
    step_id = "train"
    title = "Train"
    help = (
        "Runs sd-scripts through `accelerate launch` with the Python of its own environment. Give the "
        "sd-scripts folder once (a checkout, or kohya_ss's folder); the wizard remembers it. 'Check' "
        "runs the preflight (model, images, output folder, and the plan through sd-scripts' own parser "
        "and dataset validator) and shows the exact command. Check and Start always use the answers on "
        "screen: when the plan folder's files differ from them (or were never written), you are asked to "
        "write them first, and nothing starts from files that differ; a file kohyawiz did not write is "
        "never replaced. 'Start' trains with a live bar, the loss "
        "and its sparkline; Ctrl+S stops cleanly (SIGINT, then SIGTERM).\n\n"
        "A late sudden loss shift is reported with the checkpoint before it (A-LOSS). A failed "
        "preflight or run opens in full with the advice (out of memory, no data, a bad argument)."
    )

    def compose(self) -> ComposeResult:
        yield Label("sd-scripts folder (remembered for next time)")
        with Horizontal(classes="row"):
            yield Input(placeholder="~/sd-scripts or ~/kohya_ss", id="sd-dir")
            yield Button("Browse", id="sd-browse")
        yield Label("Python of its environment (empty: its own venv)")
        yield Input(placeholder="(found from the folder)", id="sd-python")
        with Horizontal(classes="row"):
            yield Button("Check", id="train-check")
            yield Button("Start", id="train-start", variant="primary")
            yield Button("Details", id="train-details")
        yield Static(plain("Check and Start use the answers on screen: a plan folder that differs is written first (you are asked). Ctrl+S stops a run."), id="train-status",
                     classes="note")  # fmt: skip
        yield Static("", id="train-command", classes="note")
        yield ProgressBar(id="train-bar", show_eta=True)
        yield Static("", id="train-stats")
        yield Log(id="train-log", max_lines=300)

    def on_mount(self) -> None:
        self.query_one("#train-bar", ProgressBar).display = False  # no idle animation before a run
        self.details: Text = plain("Nothing has run yet.")
        self.stop_request: Any = None

    def load(self) -> None:
        host: Any = self.host
        saved = remembered.load()
        self.set_value("sd-dir", host.sd_scripts or saved.get("sd_scripts", ""))
        self.set_value("sd-python", host.python or saved.get("python", ""))

    def _locate(self) -> Any:
        from kohyawiz.run.sdscripts.locate import find_sd_scripts

        folder, python = self.value("sd-dir").strip(), self.value("sd-python").strip()
        sd = find_sd_scripts(folder or None, python or None)
        remembered.save({"sd_scripts": str(sd.root), **({"python": python} if python else {})})
        return sd

    def _refuse(self, text: str) -> None:
        self.query_one("#train-status", Static).update(error(text))
        self.details = join(error("Not started:\n"), plain(text))

    def with_screen_files(self, then: Callable[[Any], object]) -> None:
        """Call `then` with the plan folder once it holds exactly the answers on screen. When its
        files differ (or were never written), the answers are written first, asking as the write
        step does; otherwise nothing starts and the status says which files differ."""
        from kohyawiz.emit import plan_differences

        host: Any = self.host
        host.store_all()
        try:
            plan = host.build_plan()
            differences = plan_differences(plan)
        except UserError as exc:
            self._refuse(f"the answers on screen do not make a plan: {exc} (Review, step 6, shows why)")
            return
        if not differences:
            self._load_folder(plan, then)
            return
        listed = "\n".join(f"- {line}" for line in differences)

        def written(problem: str | None) -> None:
            left = plan_differences(plan) if problem is None else differences
            if left:
                shown = "\n".join(f"- {line}" for line in left)
                self._refuse(f"Not started: the files in {plan.out_dir} differ from the answers on screen:\n"
                             f"{shown}\n{problem or ''}".rstrip())  # fmt: skip
                return
            self.host.say(plain(f"Wrote the answers on screen to {plan.out_dir} first."))
            self._load_folder(plan, then)

        question = f"The files in the plan folder differ from the answers on screen:\n{listed}\n"
        host.write_asking(plan, written, question)

    def _load_folder(self, plan: Any, then: Callable[[Any], object]) -> None:
        from kohyawiz.run.train import PlanFolder

        try:
            folder = PlanFolder.load(plan.out_dir)
        except UserError as exc:
            self._refuse(str(exc))
            return
        then(folder)

    @on(Button.Pressed, "#train-check")
    def check(self) -> None:
        self.with_screen_files(self.preflight)

    def preflight(self, folder: Any) -> bool:
        from kohyawiz.run.train import build_argv, preflight

        status = self.query_one("#train-status", Static)
        try:
            sd = self._locate()
            argv = build_argv(folder, sd)
            self.query_one("#train-command", Static).update(join(strong("Command: "), plain(shlex.join(argv))))
            checked = preflight(folder, sd)
        except UserError as exc:
            status.update(error(str(exc)))
            self.details = join(error("Could not start:\n"), plain(str(exc)))
            return False
        if checked.errors:
            self.details = join(error("The preflight found:\n"), plain("\n".join(f"- {e}" for e in checked.errors)))
            if checked.warnings:
                self.details.append_text(join(warning("\nWarnings:\n"), plain("\n".join(checked.warnings))))
            many = "problem" if len(checked.errors) == 1 else "problems"
            status.update(join(error(f"Preflight: {len(checked.errors)} {many}. "), plain("Details shows them all.")))
            return False
        note = f" ({len(checked.warnings)} warnings)" if checked.warnings else ""
        status.update(plain(f"Preflight passed for sd-scripts {sd.version.id}{note}: Start trains."))
        self.details = plain("\n".join(checked.warnings) or "The preflight passed.")
        return True

    @on(Button.Pressed, "#train-details")
    def _details(self) -> None:
        from kohyawiz.tui.screens import TextScreen

        self.app.push_screen(TextScreen("Preflight and run details", self.details))

    @on(Button.Pressed, "#sd-browse")
    def _browse(self) -> None:
        self.browse_into("sd-dir", "Choose the sd-scripts (or kohya_ss) folder", folders_only=True)

    @on(Button.Pressed, "#train-start")
    def start(self) -> None:
        self.with_screen_files(self._start)

    def _start(self, folder: Any) -> None:
        from kohyawiz.run.process import StopRequest

        if not self.preflight(folder):
            self.host.say(error("the preflight did not pass: Details shows why"))
            return
        sd = self._locate()
        self.stop_request = StopRequest()
        self.query_one("#train-start", Button).disabled = True
        self.query_one("#train-bar", ProgressBar).display = True
        self.query_one("#train-status", Static).update(plain(f"Training with sd-scripts {sd.version.id}..."))
        self.run_training(folder, sd)

    @work(thread=True, exclusive=True, group="training")
    def run_training(self, folder: Any, sd: Any) -> None:
        from kohyawiz.run.train import train

        try:
            outcome, record = train(
                folder, sd, stop=self.stop_request,
                on_watch=self._post_event,
                on_text=lambda text: self.app.call_from_thread(self._log_text, text),
            )  # fmt: skip
        except UserError as exc:
            self.post_message(TrainingDone(None, str(exc)))
            return
        self.record_folder = record.folder
        self.post_message(TrainingDone(outcome))

    def _post_event(self, watcher: Any, event: Any) -> None:
        self.post_message(TrainingEvent(event, watcher))

    def _log_text(self, text: str) -> None:
        log = self.query_one("#train-log", Log)
        for line in text.replace("\r", "\n").splitlines():
            if line.strip() and not line.startswith("steps:"):
                log.write_line(line[:300])

    def on_training_event(self, message: TrainingEvent) -> None:
        from kohyawiz.loss import detect_loss_shift, sparkline
        from kohyawiz.run import logparse

        # Everything shown comes from the run's own watcher (kohyawiz.run.train.Watcher): the run's
        # step and total (a resumed run's too), its losses and saves; nothing is tracked here.
        event, watcher = message.event, message.watcher
        state = watcher.outcome
        bar = self.query_one("#train-bar", ProgressBar)
        if isinstance(event, logparse.Progress):
            bar.update(total=state.total_steps, progress=state.final_step)
            loss = f"{event.loss:.4g}" if event.loss is not None else "-"
            spark = sparkline([v for _, v in watcher.losses])
            self.query_one("#train-stats", Static).update(
                plain(f"epoch {state.epoch or 0}  step {state.final_step}/{state.total_steps}  loss {loss}  "
                      f"{event.rate or 0:.2f} it/s  {spark}")
            )  # fmt: skip
            if event.loss is not None and watcher.losses and len(watcher.losses) % 20 == 0:
                shift = detect_loss_shift(watcher.losses, watcher.saves, state.total_steps)
                if shift is not None:
                    self.host.say(warning(f"[A-LOSS] {shift.message()}"))
        elif isinstance(event, logparse.Fatal):
            self.host.say(error(f"{event.kind}: {event.advice}"))

    def on_training_done(self, message: TrainingDone) -> None:
        self.query_one("#train-start", Button).disabled = False
        status = self.query_one("#train-status", Static)
        if message.error_text:
            status.update(error(message.error_text))
            self.details = join(error("The run could not start:\n"), plain(message.error_text))
            return
        outcome = message.outcome
        text = f"{outcome.status}: step {outcome.final_step}/{outcome.total_steps}, final loss {outcome.final_loss}"
        if outcome.loss_shift:
            text += f"\n[A-LOSS] {outcome.loss_shift}"
        lines = [text]
        folder = getattr(self, "record_folder", None)
        if folder is not None:
            from kohyawiz.run.records.history import read_history
            from kohyawiz.run.records.plot import loss_plot

            history = read_history(folder)
            if history.losses:
                text += f"\nLoss plot: {loss_plot(history, folder / 'loss.png')}"
            text += f"\nTry first: {history.pick.path if history.pick else '-'} ({history.pick_reason})"
            from kohyawiz.run.peaks import memory_lines
            from kohyawiz.run.records.record import read_json

            memory = read_json(folder / "memory.json")
            if isinstance(memory, dict):
                text += "\n" + "\n".join(memory_lines(memory))
            lines += [f"kohyawiz runs show {folder.name}"]
        status.update(plain(text) if outcome.status == "completed" else error(text + " (Details shows why)"))
        for fatal in outcome.fatal:
            lines += [f"{fatal['kind']}: {fatal['message']}", f"  what to do: {fatal['advice']}"]
        log = self.query_one("#train-log", Log)
        lines += ["", "Last lines of the log:", *list(log.lines)[-60:]]
        self.details = plain("\n".join(lines), limit=200_000)

    def stop(self) -> None:
        if self.stop_request is not None:
            self.stop_request.request()
            self.query_one("#train-status", Static).update(plain("Stopping: SIGINT sent to sd-scripts..."))
