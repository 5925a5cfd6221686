"""The wizard: eight steps that end in a plan folder and, if wanted, a run.

Domain logic stays in the core: every setting comes from `plan_from_request`, the same call the
CLI makes; the app asks, shows and calls. Each step is its own module (kohyawiz/tui/steps/).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, ClassVar

from rich.text import Text
from textual import on
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.screen import Screen
from textual.widgets import Button, ContentSwitcher, Footer, Static

from kohyawiz.errors import UserError
from kohyawiz.tui.state import RECOVERY_MARK, WizardState
from kohyawiz.tui.steps import STEP_CLASSES, STEPS, Step
from kohyawiz.tui.steps.train import TrainStep
from kohyawiz.tui.text import error, join, plain, strong


def rules_said(text: str) -> str:
    """What each rule id that `text` names means, from the one catalog (kohyawiz explain's)."""
    import re

    from kohyawiz.catalog import meaning

    ids = dict.fromkeys(re.findall(r"\b[A-Z]-[A-Z0-9]+(?:-[A-Z0-9]+)*\b", text))
    lines = [line for rule_id in ids if (line := meaning(rule_id))]
    return "\n\nThe rules named here:\n" + "\n".join(f"  {line}" for line in lines) if lines else ""


KEYS_HELP = (
    "\n\nKeys everywhere: Ctrl+N next step, Ctrl+P back, Escape back, F1 (or ? outside a text field) "
    "this help, Ctrl+K the command palette (go to a step, write, save, help), Ctrl+Q quit (asks "
    "first when answers are not saved), Ctrl+S stops a training run. Tab moves between controls."
)


class Wizard(App[None]):
    CSS_PATH = "app.tcss"
    TITLE = "kohyawiz"
    COMMAND_PALETTE_BINDING = "ctrl+k"
    BINDINGS: ClassVar[list[BindingType]] = [
        # Not priority bindings: the focused control takes the keys typed before them first.
        Binding("ctrl+n", "next_step", "Next"),
        Binding("ctrl+p", "previous_step", "Back"),
        Binding("f1", "help", "Help", priority=True),
        Binding("question_mark", "help", "Help", show=False),
        Binding("escape", "escape", "Back", show=False),
        Binding("ctrl+s", "stop", "Stop run"),
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
        self.saved_snapshot = self.state.to_toml()
        self.recovery_file: Path | None = None

    # ---- layout ---------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Static("", id="title")
        with ContentSwitcher(initial=STEPS[0], id="steps"):
            for cls in STEP_CLASSES:
                yield cls()
        yield Static("", id="error", classes="error")
        with Horizontal(id="nav"):
            yield Button("Back", id="back")
            yield Button("Next", id="next", variant="primary")
        yield Footer()

    def on_mount(self) -> None:
        for step in self.steps():
            step.load()
        self.show_step()

    def steps(self) -> list[Step]:
        return [self.query_one(f"#{name}", Step) for name in STEPS]

    def current(self) -> Step:
        return self.query_one(f"#{STEPS[self.step]}", Step)

    # ---- navigation ------------------------------------------------------------------------------

    def show_step(self) -> None:
        step = self.current()
        self.query_one("#steps", ContentSwitcher).current = step.step_id
        self.query_one("#title", Static).update(
            join(strong(f"{self.step + 1}/{len(STEPS)} {step.title}"), plain("   F1 help · ^N next · ^P back"))
        )
        self.query_one("#back", Button).disabled = self.step == 0
        self.query_one("#next", Button).disabled = self.step == len(STEPS) - 1
        self.say("")
        step.shown()
        self.call_after_refresh(self._focus_first, step)

    def _focus_first(self, step: Step) -> None:
        """Keyboard first: each step starts with its first control focused."""
        for widget in step.query("*"):
            if widget.focusable and widget.display and not getattr(widget, "disabled", False):
                widget.focus(scroll_visible=False)
                break
        step.scroll_home(animate=False)  # the step's first lines (its note) stay in view

    def action_next_step(self) -> None:
        if self.step >= len(STEPS) - 1:
            return
        problem = self.current().store(check=True)
        if problem:
            self.say(error(problem))
            return
        self.step += 1
        self.show_step()

    def action_previous_step(self) -> None:
        if self.step > 0:
            self.current().store(check=False)
            self.step -= 1
            self.show_step()

    def action_escape(self) -> None:
        if self.step > 0:
            self.action_previous_step()
        else:
            self.action_quit()

    def go_to(self, index: int) -> None:
        """Jump to a step; every step before it must hold what the later ones need."""
        self.current().store(check=False)
        for earlier in range(min(index, len(STEPS))):
            problem = self.steps()[earlier].store(check=True)
            if problem:
                self.step = earlier
                self.show_step()
                self.say(error(problem))
                return
        self.step = index
        self.show_step()

    @on(Button.Pressed, "#next")
    def _next(self) -> None:
        self.action_next_step()

    @on(Button.Pressed, "#back")
    def _back(self) -> None:
        self.action_previous_step()

    def say(self, text: Text | str) -> None:
        self.query_one("#error", Static).update(text if isinstance(text, Text) else plain(text))

    def action_help(self) -> None:
        from kohyawiz.tui.screens import HelpScreen

        if isinstance(self.screen, HelpScreen):
            return
        step = self.current()
        self.push_screen(HelpScreen(f"{self.step + 1}/{len(STEPS)} {step.title}", step.help + rules_said(step.help)
                                    + KEYS_HELP))  # fmt: skip

    def action_stop(self) -> None:
        self.query_one(TrainStep).stop()

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        for index, cls in enumerate(STEP_CLASSES):
            yield SystemCommand(f"Go to step {index + 1}: {cls.title}", f"the {cls.step_id} step",
                                lambda index=index: self.go_to(index))  # fmt: skip
        yield SystemCommand("Write the plan", "write the plan folder now", self.action_write_plan)
        yield SystemCommand("Save answers as a preset", "go to the preset field of step 7",
                            lambda: self.go_to(STEPS.index("write")))  # fmt: skip
        yield SystemCommand("Help for this step", "what it decides and which rules apply", self.action_help)

    # ---- the core --------------------------------------------------------------------------------

    def store_all(self) -> None:
        for step in self.steps():
            step.store(check=False)

    def preview_plan(self) -> tuple[Any, list[Any]]:
        """The plan and the dataset doctor's findings for what is known so far (the dataset step
        shows counts and findings before the GPU and the family are given)."""
        from kohyawiz.assemble import plan_from_request

        request = self.state.request(force=True)
        request.answers.setdefault("vram_gb", 1024.0)
        request.answers["model"].setdefault("family", "sd1")
        return plan_from_request(request)

    def build_plan(self) -> Any:
        from kohyawiz.assemble import plan_from_request

        missing = self.state.missing()
        if missing:
            raise UserError(missing)
        self.plan, _ = plan_from_request(self.state.request())
        return self.plan

    def reload_state(self, state: WizardState) -> None:
        self.state = state
        for step in self.steps():
            step.load()

    def mark_saved(self) -> None:
        self.store_all()
        self.saved_snapshot = self.state.to_toml()

    def write_plan(self) -> None:
        self.action_write_plan()

    def action_write_plan(self) -> None:
        self.store_all()
        result = self.query_one("#write-result", Static)
        try:
            plan = self.build_plan()
        except UserError as exc:
            result.update(error(str(exc)))
            self.say(error(str(exc)))
            return
        self.write_asking(plan, lambda problem: result.update(error(problem)) if problem else None)

    def write_asking(self, plan: Any, then: Callable[[str | None], None], question: str = "") -> None:
        """Write `plan`, asking first when its folder holds files; a file kohyawiz did not write is
        never replaced (the core's rule, as `kohyawiz plan` without --force). `then` gets None once
        written, or what stopped it."""
        from kohyawiz.emit import OWN_FILES, foreign_files, render, written_by_kohyawiz
        from kohyawiz.tui.screens import ConfirmScreen

        folder = plan.out_dir
        if folder.exists() and not folder.is_dir():
            then(f"{folder} is a file: choose a folder for the plan")
            return
        try:  # the files this plan writes, as write_plan checks them (by the folder's manifest)
            foreign = foreign_files(folder, render(plan)) if folder.is_dir() else []
        except UserError as exc:
            then(str(exc))
            return
        if foreign:
            then(f"{folder} holds {', '.join(foreign)}, which kohyawiz did not write or which was changed "
                 "since: the wizard never replaces your files; choose another plan folder (step 7)")  # fmt: skip
            return
        if not (folder.is_dir() and any(folder.iterdir())):
            then(self._write(plan))
            return
        # only what kohyawiz wrote is replaced (or removed); a file of the person's of the same name stays
        replaced = [name for name in OWN_FILES if written_by_kohyawiz(folder, name)]
        what = f"kohyawiz's earlier {', '.join(replaced)}" if replaced else "no plan file (its other files stay)"
        ask = (f"{question}Write them into {folder}, replacing {what}?" if question
               else f"{folder} is not empty. Replace {what} in it?")  # fmt: skip

        def answered(yes: bool | None) -> None:
            then(self._write(plan) if yes else "Not written: you answered No.")

        self.push_screen(ConfirmScreen(ask, "Write" if question else "Replace"), answered)

    def _write(self, plan: Any) -> str | None:
        from kohyawiz.emit import write_plan

        result = self.query_one("#write-result", Static)
        try:
            self.written = write_plan(plan)
        except (UserError, OSError) as exc:
            result.update(error(str(exc)))
            return str(exc)
        self.mark_saved()
        names = ", ".join(sorted(self.written))
        result.update(plain(f"Wrote {names} to {plan.out_dir}.\n"
                            f"preset.toml replays these answers: kohyawiz plan --preset {plan.out_dir / 'preset.toml'}"))  # fmt: skip
        return None

    def action_quit(self) -> None:  # type: ignore[override]
        from kohyawiz.tui.screens import ConfirmScreen

        self.store_all()
        if self.state.to_toml() == self.saved_snapshot:
            self.exit()
            return

        def answered(yes: bool | None) -> None:
            if yes:
                self.exit()

        self.push_screen(
            ConfirmScreen("Quit? The answers given since the plan was last written (or saved) are lost.", "Quit"),
            answered,
        )

    # ---- the last resort -------------------------------------------------------------------------

    def save_recovery(self) -> Path | None:
        """The answers so far, in a file `kohyawiz wizard --answers FILE` resumes from."""
        from kohyawiz.files import kohyawiz_home, write_atomic

        with contextlib.suppress(Exception):  # the widgets may be what failed; the state keeps what was stored
            self.store_all()
        folder = kohyawiz_home() / "recovery"
        path = folder / f"wizard-answers-{time.strftime('%Y%m%d-%H%M%S')}.toml"
        try:
            folder.mkdir(parents=True, exist_ok=True)
            write_atomic(path, self.state.to_toml())
        except (OSError, ValueError, TypeError):
            return None
        return path

    def _handle_exception(self, error: Exception) -> None:
        # Textual's own handler prints a traceback; a person gets one line and their answers back.
        self.recovery_file = self.save_recovery()
        self._return_code = 1
        if self._exception is None:
            self._exception = error
            self._exception_event.set()
        where = (
            f"your answers are in {self.recovery_file}: resume with `kohyawiz wizard --answers {self.recovery_file}`"
            if self.recovery_file
            else "your answers could not be saved"
        )
        self._exit_renderables.append(plain(f"kohyawiz: the wizard stopped on an internal error "
                                            f"({type(error).__name__}: {error}); {where}", 1000))  # fmt: skip
        self._close_messages_no_wait()


def make_app(
    answers_file: str | None = None,
    out_dir: str | None = None,
    sd_scripts: str | None = None,
    python: str | None = None,
) -> Wizard:
    """The one app factory the CLI and the tests share. `answers_file` is a preset, or a file of
    the wizard's own answers (a recovery file) to resume from."""
    state = WizardState()
    if answers_file:
        path = Path(answers_file).expanduser()
        from kohyawiz.door import read_text

        text = read_text(path, "answers file") if path.exists() else ""
        if text.lstrip().startswith(RECOVERY_MARK):
            state = WizardState.from_toml(text, str(path))
        else:
            from kohyawiz.presets import load_preset

            preset = load_preset(answers_file)
            state = WizardState.from_answers(preset.answers, preset.overrides)
            state.preset = preset.name
    if out_dir:
        state.out_dir = out_dir
    return Wizard(state, sd_scripts, python)


__all__ = ["STEPS", "Wizard", "make_app"]
