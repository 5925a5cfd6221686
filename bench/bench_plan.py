"""Prints how fast kohyawiz starts and plans: `python bench/bench_plan.py`."""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from kohyawiz.answers import Answers
from kohyawiz.emit import render
from kohyawiz.plan import build_plan


def startup(runs: int = 5) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "kohyawiz", "--help"], capture_output=True, check=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def plans(count: int = 200) -> float:
    answers = Answers.model_validate(
        {
            "subject": "clothing",
            "model": {"family": "sd1", "tags": "booru"},
            "vram_gb": 12,
            "concepts": [{"name": f"char, outfit{i}", "images": 20 + i} for i in range(4)],
            "network": "locon",
        }
    )
    sizes = {c.name: [(768, 512 + 64 * (j % 5)) for j in range(c.images or 0)] for c in answers.concepts}
    out = Path(tempfile.mkdtemp())
    start = time.perf_counter()
    for _ in range(count):
        render(build_plan(answers, out, sizes=sizes))
    return (time.perf_counter() - start) / count


if __name__ == "__main__":
    print(f"kohyawiz --help: {startup() * 1000:.0f} ms (median of 5, new process each)")
    print(f"plan + render, 4 concepts with image sizes: {plans() * 1000:.2f} ms per plan")
