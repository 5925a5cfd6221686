"""Each wizard step at 80x24 and 120x40, with realistic data, cursor blink off
(pytest-textual-snapshot).

Regenerate after a deliberate change with `pytest tests/test_snapshots.py --snapshot-update`.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from conftest import make_folder
from wizard_driver import no_blink, settle

from kohyawiz.tui.app import STEPS, make_app
from kohyawiz.tui.state import WizardState

# Fixed paths: they are drawn on screen, so they must be the same on every machine.
DATA = Path("/tmp/kohyawiz-snapshot-data")
OUT = "/tmp/kohyawiz-snapshot-plan"


def realistic_dataset() -> Path:
    shutil.rmtree(DATA, ignore_errors=True)
    make_folder(DATA, "10_mychar", [(1024, 1024)] * 24 + [(832, 1216)] * 4, "mychar, smile, [bracketed]")
    make_folder(DATA, "1_mychar, armor", [(768, 1024)] * 9, "mychar, armor")
    make_folder(DATA, "1_mychar, armor", [(300, 300)])  # small and uncaptioned: findings to list
    return DATA


def app_for_snapshots():
    app = make_app(out_dir=OUT)
    app.state = WizardState(
        subject="several", several=True, family="sd1", tags="booru", model_path="/models/[v2] anime base.safetensors",
        dataset=str(realistic_dataset()), vram_gb=8, out_dir=OUT, force=True,
    )  # fmt: skip
    app.state.inspected_path = app.state.model_path
    return app


@pytest.mark.parametrize("size", [(80, 24), (120, 40)], ids=["80x24", "120x40"])
@pytest.mark.parametrize("step", STEPS)
def test_screen(snap_compare, step, size, monkeypatch, tmp_path):
    monkeypatch.setenv("KOHYAWIZ_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("PATH", "/nonexistent")  # no nvidia-smi: the same screen everywhere

    async def go_to(pilot) -> None:
        no_blink(pilot.app)
        pilot.app.go_to(STEPS.index(step))
        await settle(pilot)
        no_blink(pilot.app)
        await settle(pilot)

    assert snap_compare(app_for_snapshots(), terminal_size=size, run_before=go_to)
