"""Step 7: write the plan folder (asking before replacing one), and save the answers as a preset."""

from __future__ import annotations

from pathlib import Path

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Button, Input, Label, Static

from kohyawiz.errors import UserError
from kohyawiz.tui.steps.base import Step
from kohyawiz.tui.text import error, plain


class WriteStep(Step):
    step_id = "write"
    title = "Write the plan"
    help = (
        "Writes dataset.toml, config.toml, plan.json, preset.toml (and sample_prompts.txt or a LyCORIS "
        "preset when the plan has them) into the plan folder, each file atomically (K-OUTPUT). If the "
        "folder already holds a plan you are asked before it is replaced; a plan file kohyawiz did not "
        "write (your own config.toml, say) is never replaced: choose another folder.\n\n"
        "'Save preset' writes these answers as a preset file to share or check into a repository: it "
        "holds no machine paths, so it works on anyone's machine (`kohyawiz plan --preset FILE`)."
    )

    def compose(self) -> ComposeResult:
        yield Label("Plan folder")
        with Horizontal(classes="row"):
            yield Input(id="out-dir")
            yield Button("Browse", id="out-browse")
        yield Button("Write plan", id="write-plan", variant="primary")
        yield Static("", id="write-result", classes="note")
        yield Label("Save the answers as a preset (no machine paths)")
        with Horizontal(classes="row"):
            yield Input(placeholder="my-preset.toml", id="preset-out")
            yield Button("Save preset", id="preset-save")
        yield Static("", id="preset-result", classes="note")

    def load(self) -> None:
        self.set_value("out-dir", self.state.out_dir)

    def store(self, check: bool) -> str | None:
        self.state.out_dir = self.value("out-dir").strip() or "plan"
        return None

    @on(Button.Pressed, "#write-plan")
    def _write(self) -> None:
        self.host.write_plan()

    @on(Button.Pressed, "#out-browse")
    def _browse(self) -> None:
        self.browse_into("out-dir", "Choose the plan folder", folders_only=True)

    @on(Button.Pressed, "#preset-save")
    @on(Input.Submitted, "#preset-out")
    def _save_preset(self) -> None:
        from kohyawiz.emit import preset_toml, saved_preset
        from kohyawiz.tui.screens import ConfirmScreen

        result = self.query_one("#preset-result", Static)
        target = self.value("preset-out").strip()
        if not target:
            result.update(error("type the preset file to write, e.g. my-preset.toml"))
            return
        path = Path(target).expanduser()
        if path.suffix != ".toml":
            path = path.with_suffix(path.suffix + ".toml")
        try:
            text = preset_toml(self.host.build_plan(), "answers saved by the kohyawiz wizard")
            if path.is_dir():
                raise UserError("is a folder: give a file name", where=str(path))
        except UserError as exc:
            result.update(error(str(exc)))
            return
        if path.exists() or path.is_symlink():
            if not saved_preset(path):
                result.update(error(f"{path} exists and is not a preset kohyawiz saved: the wizard never "
                                    "replaces your files; give another name"))  # fmt: skip
                return

            def answered(yes: bool | None) -> None:
                if yes:
                    self._save(path, text)
                else:
                    result.update(plain("Not saved: give another name, or save again to replace it."))

            self.app.push_screen(ConfirmScreen(f"{path} holds a preset saved earlier. Replace it?", "Replace"),
                                 answered)  # fmt: skip
            return
        self._save(path, text)

    def _save(self, path: Path, text: str) -> None:
        from kohyawiz.files import write_atomic

        result = self.query_one("#preset-result", Static)
        try:
            write_atomic(path, text)
        except (UserError, OSError) as exc:
            result.update(error(str(exc)))
            return
        self.host.mark_saved()
        result.update(plain(f"Saved {path}: replay it with kohyawiz plan --preset {path}"))
