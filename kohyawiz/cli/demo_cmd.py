"""`kohyawiz demo`: make a demo dataset, plan it with a shipped preset, and explain the plan."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from kohyawiz.assemble import PlanRequest, plan_from_request
from kohyawiz.cli.show import explain_lines, print_summary
from kohyawiz.demo import make_demo_dataset
from kohyawiz.emit import write_plan


def run_demo(args: argparse.Namespace) -> int:
    root = Path(args.out).expanduser().resolve()
    dataset = make_demo_dataset(root)
    request = PlanRequest(
        out_dir=root / "plan",
        preset="character-sd15",
        answers={"vram_gb": 12, "samples": True},
        dataset=dataset,
    )
    plan, _ = plan_from_request(request)
    written = write_plan(plan)
    print("\n".join(explain_lines(json.loads(written["plan.json"].read_text()))))
    print()
    print_summary(plan, written)
    return 0
