"""Drive the wizard with Textual's pilot, as a person would: choose, type, Ctrl+N."""

from __future__ import annotations

from typing import Any

from textual.widgets import Checkbox, Input, Select


async def settle(pilot: Any) -> None:
    await pilot.pause()
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


def no_blink(app: Any) -> None:
    for field in app.query(Input):
        field.cursor_blink = False


async def fill(pilot: Any, answers: dict[str, Any]) -> None:
    """Walk steps 1-5 with `answers` (subject, family, tags, concepts, vram, network, ...)."""
    app = pilot.app
    no_blink(app)
    await pilot.click(f"#subject-{answers['subject']}")
    await pilot.press("ctrl+n")
    await settle(pilot)
    app.query_one("#model-path", Input).value = answers.get("model", "")
    app.query_one("#family", Select).value = answers["family"]
    app.query_one("#tags", Select).value = answers["tags"]
    app.query_one("#vpred", Checkbox).value = answers.get("vpred", False)
    await pilot.press("ctrl+n")
    await settle(pilot)
    app.query_one("#concepts", Input).value = "; ".join(answers["concepts"])
    app.query_one("#dataset-dir", Input).value = answers.get("dataset", "")
    await pilot.press("ctrl+n")
    await settle(pilot)
    app.query_one("#vram", Input).value = str(answers["vram"])
    for field in ("gpus", "nodes"):
        if field in answers:
            app.query_one(f"#{field}", Input).value = str(answers[field])
    await pilot.press("ctrl+n")
    await settle(pilot)
    if answers.get("network"):
        app.query_one("#network-select", Select).value = answers["network"]
    app.query_one("#samples", Checkbox).value = answers.get("samples", False)
    await pilot.press("ctrl+n")
    await settle(pilot)
