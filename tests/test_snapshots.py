"""Each wizard screen at 80x24, cursor blink off (pytest-textual-snapshot).

Regenerate after a deliberate change with `pytest tests/test_snapshots.py --snapshot-update`.
"""

from __future__ import annotations

import pytest
from wizard_driver import no_blink, settle

from kohyawiz.tui.app import STEPS, make_app
from kohyawiz.tui.state import WizardState

SIZE = (80, 24)


def app_for_snapshots():
    app = make_app(out_dir="/tmp/kohyawiz-snapshot-plan")
    app.state = WizardState(
        subject="character", concept_counts="mychar=30\nmychar, armor=12", out_dir="/tmp/kohyawiz-snapshot-plan"
    )
    return app


@pytest.mark.parametrize("step", STEPS)
def test_screen(snap_compare, step):
    async def go_to(pilot) -> None:
        no_blink(pilot.app)
        pilot.app.query_one("#concepts").value = "mychar=30; mychar, armor=12"
        for _ in range(STEPS.index(step)):
            await pilot.press("ctrl+n")
            await settle(pilot)
        no_blink(pilot.app)
        await settle(pilot)

    assert snap_compare(app_for_snapshots(), terminal_size=SIZE, run_before=go_to)
