"""Modal screens: help for a step, a yes/no question, a path picker, and long text to scroll."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, DirectoryTree, Input, Label, Static

from kohyawiz.tui.text import plain, strong


class HelpScreen(ModalScreen[None]):
    """What a step decides and which rules apply; any of Escape, F1, ? or q closes it."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,f1,question_mark,q", "dismiss", "Close"),
    ]

    def __init__(self, title: str, body: str) -> None:
        super().__init__()
        self.title_text, self.body = title, body

    def compose(self) -> ComposeResult:
        with Vertical(id="help-box", classes="modal"):
            yield Static(strong(self.title_text))
            with VerticalScroll(id="help-body"):
                yield Static(plain(self.body))
            yield Static(plain("Escape, F1 or ? closes this."), classes="note")


class ConfirmScreen(ModalScreen[bool]):
    """A yes/no question; Enter or y says yes, Escape or n says no."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "answer(True)", "Yes"),
        Binding("n,escape", "answer(False)", "No"),
    ]

    def __init__(self, question: str, yes: str = "Yes", no: str = "No") -> None:
        super().__init__()
        self.question, self.yes, self.no = question, yes, no

    def compose(self) -> ComposeResult:
        with Vertical(id="confirm-box", classes="modal"):
            with VerticalScroll(id="confirm-question"):  # a long question scrolls; the buttons stay
                yield Static(plain(self.question))
            with Horizontal(classes="row"):
                yield Button(self.yes, id="confirm-yes", variant="warning")
                yield Button(self.no, id="confirm-no", variant="primary")

    def on_mount(self) -> None:
        self.query_one("#confirm-no", Button).focus()

    def action_answer(self, value: bool) -> None:
        self.dismiss(value)

    @on(Button.Pressed, "#confirm-yes")
    def _yes(self) -> None:
        self.dismiss(True)

    @on(Button.Pressed, "#confirm-no")
    def _no(self) -> None:
        self.dismiss(False)


class PathPicker(ModalScreen[str | None]):
    """Browse for a file or a folder; Enter on a folder opens it, Choose takes the highlighted one."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, title: str, start: str, folders_only: bool) -> None:
        super().__init__()
        self.title_text, self.folders_only = title, folders_only
        path = Path(start).expanduser() if start.strip() else Path.cwd()
        while not path.is_dir() and path != path.parent:
            path = path.parent
        self.start = path if path.is_dir() else Path.cwd()
        self.chosen: Path = self.start

    def compose(self) -> ComposeResult:
        with Vertical(id="picker-box", classes="modal"):
            yield Static(strong(self.title_text))
            yield Label("Start folder (Enter to go there)")
            yield Input(str(self.start), id="picker-root")
            yield DirectoryTree(self.start, id="picker-tree")
            yield Static(plain(str(self.start)), id="picker-chosen", classes="note")
            with Horizontal(classes="row"):
                yield Button("Choose", id="picker-choose", variant="primary")
                yield Button("Cancel", id="picker-cancel")

    def on_mount(self) -> None:
        self.query_one("#picker-tree", DirectoryTree).focus()

    @on(Input.Submitted, "#picker-root")
    def _root(self, event: Input.Submitted) -> None:
        path = Path(event.value).expanduser()
        if path.is_dir():
            self.query_one("#picker-tree", DirectoryTree).path = path
            self._choose(path)

    @on(DirectoryTree.FileSelected)
    def _file(self, event: DirectoryTree.FileSelected) -> None:
        if not self.folders_only:
            self._choose(event.path)

    @on(DirectoryTree.DirectorySelected)
    def _folder(self, event: DirectoryTree.DirectorySelected) -> None:
        self._choose(event.path)

    def _choose(self, path: Path) -> None:
        self.chosen = path
        self.query_one("#picker-chosen", Static).update(plain(str(path)))

    @on(Button.Pressed, "#picker-choose")
    def _done(self) -> None:
        self.dismiss(str(self.chosen))

    @on(Button.Pressed, "#picker-cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)


class TextScreen(ModalScreen[None]):
    """Long text (a failed preflight, a log tail with advice), scrollable."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,q", "dismiss", "Close")]

    def __init__(self, title: str, body: Text | str) -> None:
        super().__init__()
        self.title_text = title
        self.body = body if isinstance(body, Text) else plain(body, limit=200_000)

    def compose(self) -> ComposeResult:
        with Vertical(id="text-box", classes="modal"):
            yield Static(strong(self.title_text))
            with VerticalScroll(id="text-body"):
                yield Static(self.body)
            yield Static(plain("Escape closes this; arrows and PgUp/PgDn scroll."), classes="note")

    def on_mount(self) -> None:
        self.query_one("#text-body").focus()
