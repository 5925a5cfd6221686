"""Step 1: what is trained, and optionally the preset to start from."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Button, Input, Label, RadioButton, RadioSet, Select, Static

from kohyawiz.errors import UserError
from kohyawiz.tui.state import SUBJECT_NOTES, WizardState
from kohyawiz.tui.steps.base import Step
from kohyawiz.tui.text import error, plain


class SubjectStep(Step):
    step_id = "subject"
    title = "What are you training?"
    help = (
        "Choose what the LoRA learns. The subject decides how long training runs (rule T-PASSES: about "
        "100 passes per image, styles 30-40), which network the guide picks (L-PURPOSE) and how images "
        "are checked (D-COUNT). 'Several concepts' balances repeats between folders (M-BALANCE).\n\n"
        "You can also start from a preset: a shipped one, or a preset.toml from an earlier plan or a "
        "shared repository. Its answers fill every step; machine paths you already typed are kept."
    )

    def compose(self) -> ComposeResult:
        yield Label("Subject (arrows, then Space or Enter)")
        with RadioSet(id="subject-set"):
            for name in SUBJECT_NOTES:
                yield RadioButton("several concepts" if name == "several" else name, id=f"subject-{name}")
        yield Static("", id="subject-note", classes="note")
        yield Label("Start from a preset (optional)")
        with Horizontal(classes="row"):
            yield Select[str]([], prompt="shipped presets", id="preset-select")
            yield Input(placeholder="or a preset file", id="preset-file")
            yield Button("Load", id="preset-load")
        yield Static("", id="preset-note", classes="note")

    def on_mount(self) -> None:
        from kohyawiz.presets import shipped_presets

        self.query_one("#preset-select", Select).set_options((n, n) for n in sorted(shipped_presets()))

    def load(self) -> None:
        choice = "several" if self.state.several else self.state.subject
        for button in self.query(RadioButton):
            button.value = button.id == f"subject-{choice}"
        self._note(choice)
        if self.state.preset:
            self.query_one("#preset-note", Static).update(plain(f"started from the preset {self.state.preset}"))

    def _note(self, choice: str | None) -> None:
        text = SUBJECT_NOTES.get(choice or "", "Not chosen yet: pick one to go on.")
        self.query_one("#subject-note", Static).update(plain(text))

    def store(self, check: bool) -> str | None:
        pressed = self.query_one("#subject-set", RadioSet).pressed_button
        if pressed is not None and pressed.id:
            choice = pressed.id.removeprefix("subject-")
            self.state.several = choice == "several"
            self.state.subject = choice
        if check and not self.state.subject:
            return "choose what you are training: arrows, then Space"
        return None

    @on(RadioSet.Changed, "#subject-set")
    def _changed(self, event: RadioSet.Changed) -> None:
        self._note((event.pressed.id or "").removeprefix("subject-"))

    @on(Button.Pressed, "#preset-load")
    @on(Input.Submitted, "#preset-file")
    def _load_preset(self) -> None:
        from kohyawiz.presets import load_preset

        typed = self.value("preset-file").strip()
        picked = self.query_one("#preset-select", Select).value
        name = typed or ("" if picked is Select.NULL else str(picked))
        note = self.query_one("#preset-note", Static)
        if not name:
            note.update(error("pick a shipped preset or type a preset file first"))
            return
        try:
            preset = load_preset(name)
        except UserError as exc:
            note.update(error(str(exc)))
            return
        old = self.state
        new = WizardState.from_answers(preset.answers, preset.overrides)
        new.model_path, new.dataset, new.out_dir = old.model_path, old.dataset, old.out_dir
        if not new.concept_counts:
            new.concept_counts = old.concept_counts
        if new.vram_gb is None:
            new.vram_gb = old.vram_gb
        new.preset = preset.name
        self.host.reload_state(new)
        note.update(plain(f"loaded {preset.name}: {preset.description or 'its answers fill the next steps'}"))
