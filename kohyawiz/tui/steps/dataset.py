"""Step 3: the images: a training folder of N_name folders, or concepts planned before the images
exist; the dataset doctor's findings are listed here, by rule, with their files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Button, Checkbox, DataTable, Input, Label, Static

from kohyawiz.errors import UserError
from kohyawiz.tui.steps.base import Step, problem_line
from kohyawiz.tui.text import error, join, plain, styled

SHOWN_PER_RULE = 50


def _count(number: int, what: str) -> str:
    return f"{number} {what}" if number == 1 else f"{number} {what}s"


def findings_by_rule(findings: list[Any]) -> Text:
    """The doctor's findings grouped by level and rule, each with its file, as wrapping text."""
    groups: dict[tuple[str, str], list[Any]] = {}
    for finding in findings:
        groups.setdefault((finding.level, finding.rule), []).append(finding)
    order = {"error": 0, "warn": 1, "info": 2}
    colour = {"error": "bold red", "warn": "yellow", "info": "default"}
    out = Text()
    for (level, rule), items in sorted(groups.items(), key=lambda kv: (order[kv[0][0]], kv[0][1])):
        out.append_text(styled(f"{rule}: {len(items)} {level}\n", colour[level]))
        for finding in items[:SHOWN_PER_RULE]:
            where = f" ({finding.path})" if finding.path else ""
            out.append_text(plain(f"  - {finding.message}{where}\n", 600))
        if len(items) > SHOWN_PER_RULE:
            out.append_text(plain(f"  ... and {len(items) - SHOWN_PER_RULE} more: `kohyawiz check` lists them all\n"))
    out.rstrip()
    return out


class DatasetStep(Step):
    step_id = "dataset"
    title = "Dataset"
    help = (
        "Give the training folder: the parent of your N_name folders (as in kohya_ss: 10_mychar, "
        "1_mychar, redoutfit). N is the repeats per epoch you chose; kohyawiz keeps your folders and "
        "writes balanced repeats into dataset.toml (M-BALANCE), or other repeats when yours would miss "
        "the guide's targets (T-PASSES). To plan before the images exist, give name=count entries.\n\n"
        "The dataset doctor runs every D-* rule (D-COUNT, D-FORMAT, D-ALPHA, D-HUGE, D-SMALL, D-FOLDER, "
        "D-CAPTION, D-TAGS, D-IMPLIED, D-TAGSTYLE, D-ASYM) and lists what it finds below, by rule, with "
        "the files. Errors stop the plan unless you tick 'plan anyway'. Raw images are never changed "
        "(D-RAW): 'Prepare' copies fixed images from a raw folder into a training folder."
    )

    def compose(self) -> ComposeResult:
        yield Label("Training folder (the parent of N_name folders)")
        with Horizontal(classes="row"):
            yield Input(placeholder="/train/mychar", id="dataset-dir")
            yield Button("Browse", id="dataset-browse")
        yield Label("...or plan before the images exist: name=count, separated by ;")
        yield Input(placeholder="mychar=30; mychar, armor=12", id="concepts")
        yield problem_line("concepts")
        yield DataTable(id="concept-table")
        yield Static("", id="dataset-found", classes="note")
        with VerticalScroll(id="findings-box"):  # wrapped, so every file name shows whole
            yield Static("", id="findings-text")
        yield Checkbox("plan anyway despite dataset errors", id="force")
        with Horizontal(classes="row"):
            yield Button("Preview tag fixes", id="tags-preview")
            yield Button("Apply tag fixes", id="tags-apply")
        yield Label("Prepare raw images into the training folder (the raw folder is never changed)")
        with Horizontal(classes="row"):
            yield Input(placeholder="raw folder", id="prepare-raw")
            yield Input(placeholder="into N_name", id="prepare-into")
            yield Button("Prepare", id="prepare")

    def on_mount(self) -> None:
        self.query_one("#concept-table", DataTable).add_columns("concept", "images", "repeats", "passes")
        self.errors = 0
        self.first_error = ""
        self._scanned: tuple[object, ...] | None = None

    def load(self) -> None:
        self.set_value("dataset-dir", self.state.dataset)
        self.set_value("concepts", "; ".join(self.state.concept_counts.splitlines()))
        self.query_one("#force", Checkbox).value = self.state.force

    def _read(self) -> str | None:
        s = self.state
        s.dataset = self.value("dataset-dir").strip()
        s.concept_counts = "\n".join(p.strip() for p in self.value("concepts").split(";") if p.strip())
        s.force = self.query_one("#force", Checkbox).value
        try:
            s.concept_list()
        except UserError as exc:
            problem = str(exc).replace("--concept ", "")
            self.field_problem("concepts", problem)
            return problem
        self.field_problem("concepts", None)
        return None

    def store(self, check: bool) -> str | None:
        problem = self._read()
        if not check:
            return None
        if problem:
            return problem
        if not self.state.dataset and not self.state.concept_counts:
            return "give a training folder, or concepts as name=count to plan before the images exist"
        if self.state.dataset and not Path(self.state.dataset).expanduser().is_dir():
            return f"{self.state.dataset} is not a folder: give the parent of your N_name folders"
        if self._scanned != self._inputs() or (self.errors and not self.state.force):
            # The scan shown is for other answers, or its errors may have been fixed since: read again.
            self.refresh_dataset()
        if self.errors and not self.state.force:
            many = "1 error" if self.errors == 1 else f"{self.errors} errors (listed here), the first"
            return f"the dataset check found {many}: {self.first_error}. Fix it, or tick 'plan anyway'"
        return None

    def _inputs(self) -> tuple[object, ...]:
        """What the dataset check depends on: the folder, the planned concepts and the subject."""
        s = self.state
        return s.dataset, s.concept_counts, s.subject, s.several, s.family, s.tags

    def shown(self) -> None:
        self.refresh_dataset()

    def refresh_dataset(self) -> None:
        table = self.query_one("#concept-table", DataTable)
        table.clear()
        findings_text = self.query_one("#findings-text", Static)
        findings_text.update("")
        note = self.query_one("#dataset-found", Static)
        self.errors = 0
        self._scanned = None
        if self._read() is not None or not (self.state.dataset or self.state.concept_counts):
            note.update(plain("Enter a folder or name=count entries, then press Enter."))
            return
        if self.state.missing() and not self.state.subject:
            note.update(plain("Choose the subject first (step 1): it decides the checks."))
            return
        try:
            plan, findings = self.host.preview_plan()
        except UserError as exc:
            note.update(join(error("Not counted yet, the plan cannot be made: "), plain(str(exc)),
                             plain("\nGive what it names on step 2 (companion files) or as an override on Review.")))  # fmt: skip
            return
        for concept in plan.figures.concepts:
            table.add_row(plain(concept.name, 40), str(concept.images), str(concept.repeats),
                          str(concept.passes_per_image))  # fmt: skip
        errors = [f for f in findings if f.level == "error"]
        self.errors = len(errors)
        if errors:
            self.first_error = f"{errors[0].rule} {errors[0].message}" + (f" ({errors[0].path})" if errors[0].path else "")
        self._scanned = self._inputs()
        warnings = sum(1 for f in findings if f.level == "warn")
        notes = len(findings) - self.errors - warnings
        note.update(plain(f"Dataset check: {_count(self.errors, 'error')}, {_count(warnings, 'warning')}, "
                          f"{_count(notes, 'note')}"))  # fmt: skip
        findings_text.update(findings_by_rule(findings))

    @on(Input.Submitted, "#dataset-dir")
    @on(Input.Submitted, "#concepts")
    def _submitted(self) -> None:
        self.refresh_dataset()

    @on(Input.Changed, "#concepts")
    def _concepts_typed(self) -> None:
        self._read()

    @on(Button.Pressed, "#dataset-browse")
    def _browse(self) -> None:
        self.browse_into("dataset-dir", "Choose the training folder", folders_only=True,
                         then=lambda _path: self.refresh_dataset())  # fmt: skip

    @on(Button.Pressed, "#tags-preview")
    @on(Button.Pressed, "#tags-apply")
    def _tag_fixes(self, event: Button.Pressed) -> None:
        from kohyawiz.dataset.tags import BUILTIN_IMPLICATIONS, caption_fixes, write_caption_fixes

        folder = self.value("dataset-dir").strip()
        note = self.query_one("#dataset-found", Static)
        if not folder:
            note.update(error("tag fixes need a training folder"))
            return
        try:
            fixes = caption_fixes(Path(folder).expanduser(), BUILTIN_IMPLICATIONS)
            if event.button.id == "tags-apply":
                write_caption_fixes(fixes)
                note.update(plain(f"{len(fixes)} captions fixed"))
                return
        except UserError as exc:
            note.update(error(str(exc)))
            return
        sample = "\n".join(f"{p.name}: {new}" for p, _, new in fixes[:3])
        note.update(plain(f"{len(fixes)} captions would change\n{sample}"))

    @on(Button.Pressed, "#prepare")
    def _prepare(self) -> None:
        from kohyawiz.dataset.prepare import prepare

        root = self.value("dataset-dir").strip()
        raw = self.value("prepare-raw").strip()
        name = self.value("prepare-into").strip()
        note = self.query_one("#dataset-found", Static)
        if not (root and raw and name):
            note.update(error("prepare needs the training folder, a raw folder and an N_name target"))
            return
        try:
            report = prepare(Path(raw).expanduser(), Path(root).expanduser() / name)
        except UserError as exc:
            note.update(error(str(exc)))
            return
        skipped = sum(1 for entry in report if entry.problem)
        self.refresh_dataset()
        note.update(plain(f"Prepared {len(report) - skipped} images into {name}; {skipped} skipped"))
