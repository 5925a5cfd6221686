"""What every wizard step is: a scrolling page that loads answers into its controls, stores them
back (saying what is wrong, in the wizard's words), and may refresh itself when shown."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from textual.containers import VerticalScroll
from textual.widgets import Input, Static

from kohyawiz.tui.state import WizardState
from kohyawiz.tui.text import error, plain

if TYPE_CHECKING:
    from kohyawiz.assemble import Finding
    from kohyawiz.plan import Plan


class Host(Protocol):
    """What a step may ask of the app (the app implements it; steps never import the app)."""

    state: WizardState

    def preview_plan(self) -> tuple[Plan, list[Finding]]: ...

    def build_plan(self) -> Plan: ...

    def say(self, text: Any) -> None: ...

    def reload_state(self, state: WizardState) -> None: ...

    def mark_saved(self) -> None: ...

    def write_plan(self) -> None: ...

    def store_all(self) -> None: ...

    def write_asking(self, plan: Plan, then: Callable[[str | None], None], question: str = "") -> None: ...


class Step(VerticalScroll):
    step_id: ClassVar[str]
    title: ClassVar[str]
    help: ClassVar[str]

    def __init__(self) -> None:
        super().__init__(id=self.step_id)

    @property
    def host(self) -> Host:
        return self.app  # type: ignore[return-value]

    @property
    def state(self) -> WizardState:
        return self.host.state

    def load(self) -> None:
        """Put the state's answers into the controls."""

    def store(self, check: bool) -> str | None:
        """Copy the controls into the state; with `check`, say what stops the next step."""
        return None

    def shown(self) -> None:
        """The step has just become the current one."""

    def value(self, input_id: str) -> str:
        return self.query_one(f"#{input_id}", Input).value

    def set_value(self, input_id: str, text: str) -> None:
        self.query_one(f"#{input_id}", Input).value = text

    def browse_into(self, input_id: str, title: str, *, folders_only: bool,
                    then: Callable[[str], None] | None = None) -> None:  # fmt: skip
        """Open the path picker; the chosen path goes into the field (and to `then`)."""
        from kohyawiz.tui.screens import PathPicker

        def chosen(path: str | None) -> None:
            if path:
                self.set_value(input_id, path)
                if then is not None:
                    then(path)

        self.app.push_screen(PathPicker(title, self.value(input_id), folders_only), chosen)

    def field_problem(self, input_id: str, problem: str | None) -> None:
        """Show (or clear) a problem beside its field."""
        self.query_one(f"#{input_id}-problem", Static).update(error(problem) if problem else plain(""))


def problem_line(input_id: str) -> Static:
    return Static("", id=f"{input_id}-problem", classes="problem")
