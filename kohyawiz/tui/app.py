"""The wizard: eight steps that end in a plan folder and, if wanted, a run.

Domain logic stays in the core: every setting comes from `plan_from_request`, the same call the
CLI makes; the app asks, shows and calls.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from textual import on, work
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.message import Message
from textual.widgets import (
    Button,
    Checkbox,
    ContentSwitcher,
    DataTable,
    Footer,
    Input,
    Label,
    Log,
    ProgressBar,
    RadioButton,
    RadioSet,
    Select,
    Static,
)

from kohyawiz.answers import FAMILIES, NETWORKS, OPTIMIZERS, TAG_STYLES
from kohyawiz.errors import UserError
from kohyawiz.tui.state import SUBJECT_NOTES, WizardState

STEPS = ["subject", "model", "dataset", "hardware", "network", "review", "write", "train"]
TITLES = {
    "subject": "What are you training?",
    "model": "Base model",
    "dataset": "Dataset",
    "hardware": "Hardware",
    "network": "Network",
    "review": "Review",
    "write": "Write the plan",
    "train": "Train",
}


class TrainingEvent(Message):
    """A parsed sd-scripts event, posted from the training worker."""

    def __init__(self, event: Any) -> None:
        super().__init__()
        self.event = event


class TrainingDone(Message):
    def __init__(self, outcome: Any, error: str | None = None) -> None:
        super().__init__()
        self.outcome = outcome
        self.error = error


class Wizard(App[None]):
    CSS_PATH = "app.tcss"
    TITLE = "kohyawiz"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+n", "next_step", "Next", priority=True),
        Binding("ctrl+p", "previous_step", "Back", priority=True),
        Binding("ctrl+s", "stop", "Stop run", priority=True),
        Binding("ctrl+q", "quit", "Quit", priority=True),
    ]

    def __init__(
        self, state: WizardState | None = None, sd_scripts: str | None = None, python: str | None = None
    ) -> None:
        super().__init__()
        self.state = state or WizardState()
        self.sd_scripts, self.python = sd_scripts, python
        self.step = 0
        self.plan: Any = None
        self.written: dict[str, Path] = {}
        self.stop_request: Any = None
        self.losses: list[tuple[int, float]] = []
        self.saves: list[tuple[int, int]] = []
        self.epoch = 0
        self.reasons: dict[str, str] = {}

    # ---- layout -------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        s = self.state
        yield Static("", id="title")
        with ContentSwitcher(initial="subject", id="steps"):
            with VerticalScroll(id="subject"):
                with RadioSet(id="subject-set"):
                    for name in SUBJECT_NOTES:
                        label = "several concepts" if name == "several" else name
                        yield RadioButton(
                            label, value=(s.subject == name or (name == "several" and s.several)), id=f"subject-{name}"
                        )
                yield Static(SUBJECT_NOTES[s.subject], id="subject-note", classes="note")
            with VerticalScroll(id="model"):
                yield Label("Model file, diffusers folder or cached Hugging Face id")
                yield Input(s.model_path, placeholder="/models/base.safetensors", id="model-path")
                yield Static("", id="model-found", classes="note")
                with Horizontal(classes="row"):
                    yield Select([(f, f) for f in FAMILIES], value=s.family, allow_blank=False, id="family")
                    yield Select([(t, t) for t in TAG_STYLES], value=s.tags, allow_blank=False, id="tags")
                yield Checkbox("v-prediction", s.vpred, id="vpred")
                yield Checkbox("zero terminal SNR", s.zsnr, id="zsnr")
                yield Checkbox("the model is a merge", s.merge, id="merge")
                yield Checkbox("it already knows something close", s.knows_subject, id="knows")
            with VerticalScroll(id="dataset"):
                yield Label("Training folder (the parent of N_name folders)")
                yield Input(s.dataset, placeholder="/train/mychar", id="dataset-dir")
                yield Label("...or plan before the images exist: name=count, separated by ;")
                yield Input(
                    s.concept_counts.replace("\n", "; "), placeholder="mychar=30; mychar, armor=12", id="concepts"
                )
                yield DataTable(id="concept-table")
                yield Static("", id="dataset-found", classes="note")
                with Horizontal(classes="row"):
                    yield Button("Preview tag fixes", id="tags-preview")
                    yield Button("Apply tag fixes", id="tags-apply")
                yield Label("Prepare raw images into the training folder (the raw folder is never changed)")
                with Horizontal(classes="row"):
                    yield Input(placeholder="raw folder", id="prepare-raw")
                    yield Input(placeholder="into N_name", id="prepare-into")
                    yield Button("Prepare", id="prepare")
            with VerticalScroll(id="hardware"):
                yield Label("GPU memory (GB)")
                yield Input(f"{s.vram_gb:g}", id="vram")
                yield Label("GPUs training together")
                yield Input(str(s.gpus), id="gpus")
                yield Static("", id="gpu-found", classes="note")
            with VerticalScroll(id="network"):
                yield Static("", id="network-note", classes="note")
                yield Select(
                    [(n, n) for n in NETWORKS],
                    value=s.network or Select.NULL,
                    prompt="guide's pick",
                    id="network-select",
                )
                yield Select(
                    [(o, o) for o in OPTIMIZERS],
                    value=s.optimizer,
                    allow_blank=False,
                    id="optimizer",
                )
                yield Select([(p, p) for p in ("fp16", "bf16")], value=s.precision, allow_blank=False, id="precision")
                yield Checkbox("used together with other LoRAs", s.with_other_loras, id="others")
                yield Checkbox("asymmetric details (no mirroring)", s.asymmetric, id="asym")
                yield Checkbox("sample images during training", s.samples, id="samples")
                yield Checkbox("save state to allow resuming", s.save_state, id="state")
            with VerticalScroll(id="review"):
                yield Static("", id="review-figures", classes="note")
                yield DataTable(id="review-table")
                yield Static("", id="review-reason", classes="note")
                with Horizontal(classes="row"):
                    yield Input(placeholder="override: key=value", id="override")
                    yield Button("Set", id="override-set")
                yield Static("", id="review-findings", classes="note")
            with VerticalScroll(id="write"):
                yield Label("Plan folder")
                yield Input(s.out_dir, id="out-dir")
                yield Button("Write plan", id="write-plan", variant="primary")
                yield Static("", id="write-result", classes="note")
            with VerticalScroll(id="train"):
                yield Static(
                    "Press Start to launch sd-scripts; Ctrl+S stops it cleanly.", id="train-status", classes="note"
                )
                yield ProgressBar(id="train-bar", show_eta=True)
                yield Static("", id="train-stats")
                yield Button("Start", id="train-start", variant="primary")
                yield Log(id="train-log", max_lines=200)
        yield Static("", id="error", classes="error")
        with Horizontal(id="nav"):
            yield Button("Back", id="back")
            yield Button("Next", id="next", variant="primary")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#train-bar", ProgressBar).display = False  # no idle animation before a run
        self.show_step()
        self.query_one("#concept-table", DataTable).add_columns("concept", "images", "repeats", "passes")
        review = self.query_one("#review-table", DataTable)
        review.cursor_type = "row"
        review.add_columns("setting", "value", "rule")

    # ---- navigation ----------------------------------------------------------------------------

    def show_step(self) -> None:
        name = STEPS[self.step]
        self.query_one("#steps", ContentSwitcher).current = name
        self.query_one("#title", Static).update(f"[b]{self.step + 1}/{len(STEPS)} {TITLES[name]}[/b]")
        self.query_one("#back", Button).disabled = self.step == 0
        self.query_one("#next", Button).disabled = self.step == len(STEPS) - 1
        self.set_error("")
        self.call_after_refresh(self._focus_first, name)
        if name == "model":
            self.inspect_model()
        if name == "dataset":
            self.refresh_dataset()
        if name == "hardware":
            self.detect_hardware()
        if name == "network":
            self.refresh_network_note()
        if name == "review":
            self.refresh_review()

    def _focus_first(self, name: str) -> None:
        """Keyboard first: each step starts with its first control focused."""
        for widget in self.query_one(f"#{name}").query("*"):
            if widget.focusable and widget.display:
                widget.focus()
                return

    def action_next_step(self) -> None:
        if self.step < len(STEPS) - 1 and self.collect():
            self.step += 1
            self.show_step()

    def action_previous_step(self) -> None:
        if self.step > 0:
            self.collect(check=False)
            self.step -= 1
            self.show_step()

    @on(Button.Pressed, "#next")
    def _next(self) -> None:
        self.action_next_step()

    @on(Button.Pressed, "#back")
    def _back(self) -> None:
        self.action_previous_step()

    def set_error(self, text: str) -> None:
        self.query_one("#error", Static).update(text)

    # ---- reading answers from the widgets -----------------------------------------------------

    def collect(self, check: bool = True) -> bool:
        """Copy the current step's widgets into the state; say what is wrong instead of moving on."""
        s, name = self.state, STEPS[self.step]
        try:
            if name == "subject":
                pressed = self.query_one("#subject-set", RadioSet).pressed_button
                if pressed is not None and pressed.id:
                    choice = pressed.id.removeprefix("subject-")
                    s.several = choice == "several"
                    s.subject = choice
            elif name == "model":
                s.model_path = self.query_one("#model-path", Input).value
                s.family = str(self.query_one("#family", Select).value)
                s.tags = str(self.query_one("#tags", Select).value)
                s.vpred = self.query_one("#vpred", Checkbox).value
                s.zsnr = self.query_one("#zsnr", Checkbox).value
                s.merge = self.query_one("#merge", Checkbox).value
                s.knows_subject = self.query_one("#knows", Checkbox).value
            elif name == "dataset":
                s.dataset = self.query_one("#dataset-dir", Input).value.strip()
                s.concept_counts = "\n".join(
                    p.strip() for p in self.query_one("#concepts", Input).value.split(";") if p.strip()
                )
                if check and not s.dataset and not s.concept_counts:
                    raise UserError("give a training folder, or concepts as name=count to plan before the images exist")
                if check:
                    s.request()  # parses the name=count entries
            elif name == "hardware":
                s.vram_gb = float(self.query_one("#vram", Input).value)
                s.gpus = int(self.query_one("#gpus", Input).value)
                if s.vram_gb <= 0 or s.gpus < 1:
                    raise ValueError
            elif name == "network":
                value = self.query_one("#network-select", Select).value
                s.network = None if value is Select.NULL else str(value)
                s.optimizer = str(self.query_one("#optimizer", Select).value)
                s.precision = str(self.query_one("#precision", Select).value)
                s.with_other_loras = self.query_one("#others", Checkbox).value
                s.asymmetric = self.query_one("#asym", Checkbox).value
                s.samples = self.query_one("#samples", Checkbox).value
                s.save_state = self.query_one("#state", Checkbox).value
            elif name == "review" and check:
                self.build_plan()
            elif name == "write":
                s.out_dir = self.query_one("#out-dir", Input).value.strip() or "plan"
        except UserError as exc:
            self.set_error(f"[red]{exc}[/red]")
            return False
        except ValueError:
            self.set_error("[red]give numbers: GPU memory in GB (e.g. 12) and a whole number of GPUs[/red]")
            return False
        return True

    @on(RadioSet.Changed, "#subject-set")
    def _subject_changed(self, event: RadioSet.Changed) -> None:
        choice = (event.pressed.id or "subject-character").removeprefix("subject-")
        self.query_one("#subject-note", Static).update(SUBJECT_NOTES[choice])

    # ---- step helpers (all domain work is the core's) ------------------------------------------

    def inspect_model(self) -> None:
        path = self.query_one("#model-path", Input).value.strip()
        found = self.query_one("#model-found", Static)
        if not path:
            found.update("No model yet: you can plan now and add it later.")
            return
        from kohyawiz.models import inspect_model

        try:
            info = inspect_model(path)
        except UserError as exc:
            found.update(f"Could not inspect: {exc}. Set the ancestry below.")
            return
        found.update(
            f"Found: {info.kind}, family {info.family or '?'}, v-pred {info.vpred}, zSNR {info.zsnr}, native {info.native_resolution or '?'}"
        )
        if info.family:
            self.query_one("#family", Select).value = info.family
        self.query_one("#vpred", Checkbox).value = info.vpred or self.state.vpred
        self.query_one("#zsnr", Checkbox).value = info.zsnr or self.state.zsnr

    @on(Input.Submitted, "#model-path")
    def _model_submitted(self) -> None:
        self.inspect_model()

    def refresh_dataset(self) -> None:
        table = self.query_one("#concept-table", DataTable)
        table.clear()
        note = self.query_one("#dataset-found", Static)
        saved = self.step
        if not self.collect(check=False) or not (self.state.dataset or self.state.concept_counts):
            note.update("Enter a folder or name=count entries, then press Enter.")
            return
        try:
            from kohyawiz.assemble import plan_from_request

            request = self.state.request()
            request.force = True
            plan, findings = plan_from_request(request)
        except UserError as exc:
            note.update(f"[red]{exc}[/red]")
            return
        finally:
            self.step = saved
        for concept in plan.figures.concepts:
            table.add_row(concept.name, str(concept.images), str(concept.repeats), str(concept.passes_per_image))
        counts = {level: sum(1 for f in findings if f.level == level) for level in ("error", "warn")}
        note.update(f"Dataset check: {counts['error']} errors, {counts['warn']} warnings (`kohyawiz check` lists them)")

    @on(Input.Submitted, "#dataset-dir")
    @on(Input.Submitted, "#concepts")
    def _dataset_submitted(self) -> None:
        self.refresh_dataset()

    @on(Button.Pressed, "#tags-preview")
    @on(Button.Pressed, "#tags-apply")
    def _tag_fixes(self, event: Button.Pressed) -> None:
        from kohyawiz.dataset.tags import BUILTIN_IMPLICATIONS, caption_fixes, write_caption_fixes

        folder = self.query_one("#dataset-dir", Input).value.strip()
        if not folder:
            self.set_error("[red]tag fixes need a training folder[/red]")
            return
        try:
            fixes = caption_fixes(Path(folder), BUILTIN_IMPLICATIONS)
        except UserError as exc:
            self.set_error(f"[red]{exc}[/red]")
            return
        if event.button.id == "tags-apply":
            write_caption_fixes(fixes)
            self.query_one("#dataset-found", Static).update(f"{len(fixes)} captions fixed")
        else:
            sample = "\n".join(f"{p.name}: {new}" for p, _, new in fixes[:3])
            self.query_one("#dataset-found", Static).update(f"{len(fixes)} captions would change\n{sample}")

    @on(Button.Pressed, "#prepare")
    def _prepare(self) -> None:
        from kohyawiz.dataset.prepare import prepare

        root = self.query_one("#dataset-dir", Input).value.strip()
        raw = self.query_one("#prepare-raw", Input).value.strip()
        name = self.query_one("#prepare-into", Input).value.strip()
        if not (root and raw and name):
            self.set_error("[red]prepare needs the training folder, a raw folder and a N_name target[/red]")
            return
        try:
            report = prepare(Path(raw), Path(root) / name)
        except UserError as exc:
            self.set_error(f"[red]{exc}[/red]")
            return
        skipped = sum(1 for entry in report if entry.problem)
        self.query_one("#dataset-found", Static).update(
            f"Prepared {len(report) - skipped} images into {name}; {skipped} skipped"
        )
        self.refresh_dataset()

    def detect_hardware(self) -> None:
        from kohyawiz.run.gpu import detect_gpus

        gpus = detect_gpus()
        note = self.query_one("#gpu-found", Static)
        if gpus:
            note.update(f"nvidia-smi: {len(gpus)} x {gpus[0].name}, {gpus[0].memory_gb:g} GB")
            self.query_one("#vram", Input).value = f"{gpus[0].memory_gb:g}"
        else:
            note.update("No nvidia-smi here: give the memory of the GPU that will train.")

    def refresh_network_note(self) -> None:
        from kohyawiz.rules.network import RECOMMENDED

        s = self.state
        purpose = "multi-concept" if s.several else {"style": "styles", "concept": "concepts"}.get(s.subject, "general")
        picks = ", ".join(RECOMMENDED[purpose])
        self.query_one("#network-note", Static).update(
            f"Guide's picks for {purpose}: [b]{picks}[/b]. Left empty, kohyawiz chooses."
        )

    def build_plan(self) -> Any:
        from kohyawiz.assemble import plan_from_request

        request = self.state.request()
        request.force = True
        self.plan, _ = plan_from_request(request)
        return self.plan

    def refresh_review(self) -> None:
        table = self.query_one("#review-table", DataTable)
        table.clear()
        try:
            plan = self.build_plan()
        except UserError as exc:
            self.set_error(f"[red]{exc}[/red]")
            return
        self.reasons = {}
        for decision in plan.decisions:
            value = "-" if decision.value is None else str(decision.value)
            value = value if len(value) <= 24 else value[:23] + "…"
            table.add_row(decision.key[:30], value, decision.rule, key=decision.key)
            source = "" if decision.source == "rule" else f" ({decision.source})"
            self.reasons[decision.key] = f"{decision.key} = {decision.value}: {decision.reason}{source}"
        self.query_one("#review-figures", Static).update("\n".join(plan.figures.arithmetic[-3:]))
        notes = [f"[{f.rule}] {f.message}" for f in plan.findings if f.level != "info"]
        self.query_one("#review-findings", Static).update("\n".join(notes) or "No warnings.")

    @on(DataTable.RowHighlighted, "#review-table")
    def _reason(self, event: DataTable.RowHighlighted) -> None:
        key = event.row_key.value if event.row_key is not None else None
        self.query_one("#review-reason", Static).update(self.reasons.get(str(key), ""))

    @on(Button.Pressed, "#override-set")
    @on(Input.Submitted, "#override")
    def _override(self) -> None:
        from kohyawiz.assemble import parse_override

        field = self.query_one("#override", Input)
        try:
            key, value = parse_override(field.value)
            trial = dict(self.state.overrides, **{key: value})
            previous, self.state.overrides = self.state.overrides, trial
            try:
                self.build_plan()  # checked against the target sd-scripts on the spot
            except UserError:
                self.state.overrides = previous
                raise
        except UserError as exc:
            self.set_error(f"[red]{exc}[/red]")
            return
        field.value = ""
        self.set_error(f"{key} set to {value}")
        self.refresh_review()

    @on(Button.Pressed, "#write-plan")
    def _write(self) -> None:
        from kohyawiz.emit import write_plan

        self.collect(check=False)
        try:
            self.written = write_plan(self.build_plan())
        except UserError as exc:
            self.set_error(f"[red]{exc}[/red]")
            return
        names = ", ".join(sorted(self.written))
        self.query_one("#write-result", Static).update(
            f"Wrote {names} to {self.plan.out_dir}.\npreset.toml replays these answers: kohyawiz plan --preset ..."
        )

    # ---- training --------------------------------------------------------------------------------

    @on(Button.Pressed, "#train-start")
    def _start(self) -> None:
        if not self.written:
            self.set_error("[red]write the plan first (step 7)[/red]")
            return
        from kohyawiz.run.locate import find_sd_scripts
        from kohyawiz.run.process import StopRequest
        from kohyawiz.run.train import PlanFolder, preflight

        try:
            plan = PlanFolder.load(self.plan.out_dir)
            sd = find_sd_scripts(self.sd_scripts, self.python)
            checked = preflight(plan, sd)
            if checked.errors:
                raise UserError(checked.errors[0])
        except UserError as exc:
            self.set_error(f"[red]{exc}[/red]")
            return
        self.stop_request = StopRequest()
        self.query_one("#train-start", Button).disabled = True
        self.query_one("#train-bar", ProgressBar).display = True
        self.query_one("#train-status", Static).update(f"Training with sd-scripts {sd.version.id}...")
        self.run_training(plan, sd)

    @work(thread=True, exclusive=True, group="training")
    def run_training(self, plan: Any, sd: Any) -> None:
        from kohyawiz.run.train import train

        try:
            outcome, _ = train(
                plan, sd, stop=self.stop_request,
                on_event=self._post_event,
                on_text=lambda text: self.call_from_thread(self._log_text, text),
            )  # fmt: skip
        except UserError as exc:
            self.post_message(TrainingDone(None, str(exc)))
            return
        self.post_message(TrainingDone(outcome))

    def _post_event(self, event: Any) -> None:
        self.post_message(TrainingEvent(event))

    def _log_text(self, text: str) -> None:
        log = self.query_one("#train-log", Log)
        for line in text.replace("\r", "\n").splitlines():
            if line.strip() and not line.startswith("steps:"):
                log.write_line(line[:200])

    def on_training_event(self, message: TrainingEvent) -> None:
        from kohyawiz.cli.train_cmd import sparkline
        from kohyawiz.loss import detect_loss_shift
        from kohyawiz.run import logparse

        event = message.event
        bar = self.query_one("#train-bar", ProgressBar)
        if isinstance(event, logparse.EpochStarted):
            self.epoch = event.epoch
        elif isinstance(event, logparse.Progress):
            bar.update(total=event.total, progress=event.step)
            if event.loss is not None:
                if self.losses and self.losses[-1][0] == event.step:
                    self.losses[-1] = (event.step, event.loss)
                else:
                    self.losses.append((event.step, event.loss))
            loss = f"{event.loss:.4g}" if event.loss is not None else "-"
            spark = sparkline([v for _, v in self.losses])
            self.query_one("#train-stats", Static).update(
                f"epoch {self.epoch}  step {event.step}/{event.total}  loss {loss}  {event.rate or 0:.2f} it/s  {spark}"
            )
            if len(self.losses) % 20 == 0:
                shift = detect_loss_shift(self.losses, self.saves, event.total)
                if shift is not None:
                    self.set_error(f"[yellow][A-LOSS] {shift.message()}[/yellow]")
        elif isinstance(event, logparse.CheckpointSaved) and self.losses:
            self.saves.append((self.epoch, self.losses[-1][0]))
        elif isinstance(event, logparse.Fatal):
            self.set_error(f"[red]{event.kind}: {event.advice}[/red]")

    def on_training_done(self, message: TrainingDone) -> None:
        self.query_one("#train-start", Button).disabled = False
        status = self.query_one("#train-status", Static)
        if message.error:
            status.update(f"[red]{message.error}[/red]")
            return
        outcome = message.outcome
        text = f"{outcome.status}: step {outcome.final_step}/{outcome.total_steps}, final loss {outcome.final_loss}"
        if outcome.loss_shift:
            text += f"\n[A-LOSS] {outcome.loss_shift}"
        status.update(text)

    def action_stop(self) -> None:
        if self.stop_request is not None:
            self.stop_request.request()
            self.query_one("#train-status", Static).update("Stopping: SIGINT sent to sd-scripts...")


def make_app(
    answers_file: str | None = None,
    out_dir: str | None = None,
    sd_scripts: str | None = None,
    python: str | None = None,
) -> Wizard:
    """The one app factory the CLI and the tests share."""
    state = WizardState()
    if answers_file:
        from kohyawiz.presets import load_preset

        preset = load_preset(answers_file)
        state = WizardState.from_answers(preset.answers, preset.overrides)
    if out_dir:
        state.out_dir = out_dir
    return Wizard(state, sd_scripts, python)
