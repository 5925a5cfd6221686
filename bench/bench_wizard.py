"""Prints how long the wizard takes to open and to move through its steps (headless, 80x24):
`python bench/bench_wizard.py`."""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path

from kohyawiz.tui.app import STEPS, make_app
from kohyawiz.tui.state import WizardState


async def walk() -> tuple[float, float]:
    out = Path(tempfile.mkdtemp()) / "plan"
    start = time.perf_counter()
    app = make_app(out_dir=str(out))
    app.state = WizardState(subject="character", family="sd1", concept_counts="mychar=30", vram_gb=12, out_dir=str(out))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        opened = time.perf_counter() - start
        start = time.perf_counter()
        for _ in range(STEPS.index("review")):
            await pilot.press("ctrl+n")
            await pilot.pause()
        moved = (time.perf_counter() - start) / STEPS.index("review")
    return opened, moved


if __name__ == "__main__":
    opened, moved = asyncio.run(walk())
    print(f"wizard open (headless, 80x24): {opened * 1000:.0f} ms; one step forward incl. planning: {moved * 1000:.0f} ms")
