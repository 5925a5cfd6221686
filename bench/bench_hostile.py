"""Prints how long the largest inputs take: a 20,000-image dataset through the doctor and `plan`,
and a GUI config with 1 MB of additional_parameters through import: `python bench/bench_hostile.py`."""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

from kohyawiz.assemble import PlanRequest, plan_from_request
from kohyawiz.demo import png_bytes
from kohyawiz.interop.kohya import import_settings, read_config


def big_dataset(root: Path, count: int) -> Path:
    folder = root / "train" / "1_many"
    folder.mkdir(parents=True)
    data = png_bytes(64, 64, 7)
    for index in range(count):
        (folder / f"{index:06d}.png").write_bytes(data[:-20] + index.to_bytes(4, "big") + data[-16:])
        (folder / f"{index:06d}.txt").write_text("many, tag, another tag")
    return root / "train"


def main() -> None:
    root = Path(tempfile.mkdtemp())
    train = big_dataset(root, 20_000)
    start = time.perf_counter()
    answers = {"subject": "style", "vram_gb": 12, "model": {"family": "sd1"}}
    plan, findings = plan_from_request(PlanRequest(out_dir=root / "plan", answers=answers, dataset=train, force=True))
    seconds = time.perf_counter() - start
    print(f"20,000 images: plan with the doctor {seconds:.2f} s ({len(findings)} findings, {plan.figures.total_steps} steps)")
    params = " ".join(f"--flag{i}=value{i}" for i in range(60_000))[: 1024 * 1024]
    config = root / "gui.json"
    config.write_text(json.dumps({"LoRA_type": "Standard", "network_dim": 8, "additional_parameters": params}))
    start = time.perf_counter()
    flat, dataset = read_config(config)
    result = import_settings(flat, str(config), dataset)
    print(f"1 MB additional_parameters: import {time.perf_counter() - start:.2f} s ({len(result.report)} report rows)")


if __name__ == "__main__":
    main()
