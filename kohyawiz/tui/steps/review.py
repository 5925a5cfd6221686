"""Step 6: the plan before it is written: a fixed summary first; every setting with its rule and
reason, every finding, and the step arithmetic each one key away. Overrides are set and removed
here and checked against the target sd-scripts on the spot."""

from __future__ import annotations

from typing import Any, ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Button, DataTable, Input, Label, Static, TabbedContent, TabPane

from kohyawiz.errors import UserError
from kohyawiz.memory.words import ram_line
from kohyawiz.rules.processes import per_card
from kohyawiz.tui.steps.base import Step
from kohyawiz.tui.text import error, join, plain, strong, styled, warning

TABS = ("summary", "settings", "findings", "arithmetic")


class ReviewStep(Step):
    step_id = "review"
    title = "Review"
    help = (
        "The plan, as kohyawiz will write it. Summary: steps, passes per concept, checkpoints, the "
        "memory verdict and the number of errors and warnings. Keys: 1 summary, 2 settings (every "
        "value with the rule that chose it; the highlighted row's reason is shown below the table), "
        "3 findings (with their rule ids), 4 arithmetic (how the steps are counted).\n\n"
        "An override sets any sd-scripts argument (key=value) and beats every rule; it is checked "
        "against the target sd-scripts at once. Highlight an override's row and press Delete (or the "
        "Remove button) to take it back. Values sd-scripts would refuse at run time are refused here "
        "(C-* constraints); rule values that conflict with yours give way and say why."
    )
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("1", "tab('summary')", "Summary", show=False),
        Binding("2", "tab('settings')", "Settings", show=False),
        Binding("3", "tab('findings')", "Findings", show=False),
        Binding("4", "tab('arithmetic')", "Arithmetic", show=False),
    ]

    def compose(self) -> ComposeResult:
        yield Static(plain("1 summary · 2 settings · 3 findings · 4 arithmetic"), classes="note")
        with TabbedContent(initial="summary", id="review-tabs"):
            with TabPane("1 Summary", id="summary"), VerticalScroll():
                yield Static("", id="review-summary")
            with TabPane("2 Settings", id="settings"):
                yield DataTable(id="review-table")
                yield Static("", id="review-reason", classes="note")
                yield Label("Override: key=value (Delete removes a highlighted override)")
                with Horizontal(classes="row"):
                    yield Input(placeholder="network_dim=16", id="override")
                    yield Button("Set", id="override-set")
                    yield Button("Remove", id="override-remove")
            with TabPane("3 Findings", id="findings"), VerticalScroll():
                yield Static("", id="review-findings")
            with TabPane("4 Arithmetic", id="arithmetic"), VerticalScroll():
                yield Static("", id="review-figures")

    def on_mount(self) -> None:
        table = self.query_one("#review-table", DataTable)
        table.cursor_type = "row"
        table.add_columns("setting", "value", "rule")
        self.reasons: dict[str, Text] = {}
        self.overridden: set[str] = set()
        self.broken = False

    def action_tab(self, name: str) -> None:
        self.query_one("#review-tabs", TabbedContent).active = name
        target = "#review-table" if name == "settings" else f"#{name} VerticalScroll"
        self.call_after_refresh(lambda: self.query_one(target).focus())

    def store(self, check: bool) -> str | None:
        if not check:
            return None
        try:
            self.host.build_plan()
        except UserError as exc:
            return str(exc)
        return None

    def shown(self) -> None:
        self.action_tab("summary")
        self.refresh_review()

    def refresh_review(self) -> None:
        table = self.query_one("#review-table", DataTable)
        table.clear()
        self.reasons = {}
        self.overridden = set(self.state.overrides)
        summary = self.query_one("#review-summary", Static)
        self.broken = True
        missing = self.state.missing()
        if missing:
            summary.update(error(f"Not ready: {missing}."))
            self._override_rows()
            return
        try:
            plan = self.host.build_plan()
        except UserError as exc:
            self._show_broken(exc)
            return
        self.broken = False
        for decision in plan.decisions:
            shown = "-" if decision.value is None else _show(decision.value)
            mark = "" if decision.source == "rule" else f" <{decision.source}>"
            table.add_row(plain(decision.key, 30), plain(shown, 22), plain(decision.rule + mark), key=decision.key)
            source = "" if decision.source == "rule" else f" (set by the {decision.source})"
            self.reasons[decision.key] = join(strong(f"{decision.key} = {shown}"),
                                              plain(f"  [{decision.rule}] {decision.reason}{source}"))  # fmt: skip
        summary.update(summary_text(plan))
        self.query_one("#review-findings", Static).update(findings_text(plan.findings))
        self.query_one("#review-figures", Static).update(plain("\n".join(plan.figures.arithmetic)))

    @on(DataTable.RowHighlighted, "#review-table")
    def _reason(self, event: DataTable.RowHighlighted) -> None:
        key = event.row_key.value if event.row_key is not None else None
        self.query_one("#review-reason", Static).update(self.reasons.get(str(key), plain("")))

    def _show_broken(self, exc: UserError) -> None:
        """A plan that cannot be made yet: every problem left, with what to set, and every
        override in the table (each checked on its own key), so any of them can be removed."""
        from kohyawiz.errors import PlanRefused

        problems = exc.problems if isinstance(exc, PlanRefused) else [str(exc)]
        problems = [f"override {p[6:]}" if p.startswith("--set ") else p for p in problems]  # the wizard's word
        listed = "\n".join(f"- {p}" for p in problems)
        text = join(error(f"This plan cannot be made yet: {len(problems)} to fix\n"), plain(listed, 20_000),
                    plain("\nSet companion files on step 2 or as overrides (key 2: key=value); highlight an "
                          "override there and press Delete to remove it; or go back to change an answer."))  # fmt: skip
        self.query_one("#review-summary", Static).update(text)
        self.query_one("#review-findings", Static).update(join(error("Not planned yet:\n"), plain(listed, 20_000)))
        self.query_one("#review-figures", Static).update(plain("No arithmetic until the plan can be made."))
        self._override_rows()

    def _override_rows(self) -> None:
        """Every override as a row (so Delete can take it back), each checked on its own key."""
        from kohyawiz.plan import check_override

        table = self.query_one("#review-table", DataTable)
        for key, value in self.state.overrides.items():
            try:
                if self.state.family:
                    check_override(key, value, self.state.family, self.state.sd_scripts_version)
                mark, why = "<user>", "accepted on its own key; the plan is not made yet (key 1 says why)"
            except UserError as bad:
                mark, why = "<user> refused", f"refused: {bad.message}; Delete removes it"
            table.add_row(plain(key, 30), plain(value, 22), plain(mark), key=key)
            self.reasons[key] = join(strong(f"{key} = {value}"), plain(f"  {why}"))

    @on(Button.Pressed, "#override-set")
    @on(Input.Submitted, "#override")
    def _override(self) -> None:
        from kohyawiz.assemble import parse_override
        from kohyawiz.plan import check_override

        field = self.query_one("#override", Input)
        if not self.state.family:
            self.host.say(error("choose the base model's family first (step 2): overrides are checked against its trainer"))
            return
        try:
            key, value = parse_override(field.value)
            # Checked on its own key at once; kept even while the plan still fails for other reasons.
            check_override(key, value, self.state.family, self.state.sd_scripts_version)
        except UserError as exc:
            self.host.say(error(str(exc).replace("--set ", "override ")))
            return
        self.state.overrides = {**self.state.overrides, key: value}
        field.value = ""
        self.refresh_review()
        left = "; the plan is not made yet: key 1 lists what is left" if self.broken else ""
        self.host.say(plain(f"{key} set to {value}{left}"))

    def key_delete(self) -> None:
        self._remove()

    @on(Button.Pressed, "#override-remove")
    def _remove(self) -> None:
        table = self.query_one("#review-table", DataTable)
        key: Any = None
        if table.row_count:
            key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        if key not in self.state.overrides:
            self.host.say(warning("highlight an override's row (marked <user> or <preset>) in the settings to remove it"))
            return
        self.state.overrides = {k: v for k, v in self.state.overrides.items() if k != key}
        self.host.say(plain(f"override {key} removed: the rules decide it again"))
        self.refresh_review()


def _show(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return " ".join(str(v) for v in value)
    return str(value)


def summary_text(plan: Any) -> Text:
    fig = plan.figures
    out = Text()
    exact = "" if fig.exact else " (image sizes unknown: estimated)"
    out.append_text(strong(f"{fig.total_steps} steps: {fig.epochs} epochs x {fig.steps_per_epoch} steps{exact}\n"))
    for concept in fig.concepts:
        out.append_text(plain(f"  {concept.name}: {concept.images} images x {concept.repeats} repeats, "
                              f"{concept.passes_per_image} passes per image\n", 300))  # fmt: skip
    out.append_text(plain(f"Checkpoints: {checkpoint_count(plan)}\n"))
    if plan.vram is not None:
        vram = plan.vram
        line = (f"{vram.verdict()} ({vram.phase.replace('_', ' ')} decides; "
                f"{vram.reserve_gb:g} GB reserve kept free)")  # fmt: skip
        line += per_card(plan.answers.processes)
        out.append_text(styled(line + "\n", "green" if vram.fits else "yellow" if vram.tight else "bold red"))
        if vram.ram is not None:
            ram = ram_line(vram.ram.as_dict())
            out.append_text(styled(f"{ram}\n", "green" if vram.ram.fits else "bold red"))
        if vram.correction:
            out.append_text(plain(f"  x{vram.correction:g} from {vram.correction_from}\n", 300))
        if vram.steps:
            out.append_text(plain(f"  to fit: {'; '.join(vram.steps)}\n"))
    errors = sum(1 for f in plan.findings if f.level == "error")
    warnings = sum(1 for f in plan.findings if f.level == "warn")
    out.append_text(styled(f"{errors} errors, {warnings} warnings", "red" if errors else "yellow" if warnings else ""))
    out.append_text(plain(" (key 3 lists them)\n"))
    out.append_text(plain(f"{plan.script} for sd-scripts {plan.interface.version}; key 2 shows every setting"))
    return out


def checkpoint_count(plan: Any) -> int:
    from kohyawiz.rules.schedule import checkpoints

    steps = plan.value("save_every_n_steps")
    if steps:
        return -(-plan.figures.total_steps // int(steps))
    every = plan.value("save_every_n_epochs")
    return checkpoints(plan.figures.epochs, int(every)) if every else 1


def findings_text(findings: list[Any]) -> Text:
    if not findings:
        return plain("No findings.")
    out = Text()
    colour = {"error": "red", "warn": "yellow", "info": ""}
    for finding in findings:
        where = f" ({finding.path})" if getattr(finding, "path", None) else ""
        out.append_text(styled(f"{finding.level:<5} {finding.rule:<12} ", colour.get(finding.level, "")))
        out.append_text(plain(f"{finding.message}{where}\n", 600))
    return out
