"""Measure what kohyawiz's plans really take on a GPU, beside the memory model's estimate.

For each plan of a matrix (SD1 and SDXL, 6-24 GB budgets, LoRA and LoCon, Prodigy and AdamW8bit)
it trains a few steps on the real sd-scripts with full-size random weights, at the planned
resolution and at a lower one, and prints one JSON line per run: the estimate and its parts,
torch.cuda.max_memory_allocated, and the activation GiB per megapixel the two resolutions imply
(the slope: the static parts cancel). Those slopes are what vendor/memory.toml's [activations]
should be set to.

    python bench/vram_gpu.py --list          # the matrix and its estimates; no GPU, no sd-scripts
    SD_SCRIPTS=... SD_PYTHON=... MODEL_SD1=... MODEL_SDXL=... TOKENIZER_CACHE_DIR=... DATASET_DIR=... \\
        python bench/vram_gpu.py [--only sd1] [--steps 6] > bench/vram_gpu.jsonl

MODEL_SD1 / MODEL_SDXL: full-size models with random weights (shared/sd-scripts/harness builds the
SD1.5 one; any SDXL-shaped checkpoint works for SDXL, its weights do not matter).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from kohyawiz.assemble import PlanRequest, plan_from_request
from kohyawiz.emit import write_plan
from kohyawiz.memory.estimate import GIB

BUDGETS = {"sd1": (6, 8, 12, 16, 24), "sdxl": (8, 12, 16, 24)}
NETWORKS = ("lora", "locon")
OPTIMIZERS = ("prodigy", "adamw8bit")
LOWER = {1024: 768, 768: 512, 512: 384, 640: 448, 896: 640}


def matrix(only: str | None) -> list[dict[str, Any]]:
    rows = []
    for family, budgets in BUDGETS.items():
        if only and family != only:
            continue
        for vram, network, optimizer in itertools.product(budgets, NETWORKS, OPTIMIZERS):
            rows.append({"family": family, "vram": vram, "network": network, "optimizer": optimizer})
    return rows


def plan_row(row: dict[str, Any], out: Path, overrides: dict[str, str], model: str | None, dataset: Path | None):
    answers: dict[str, Any] = {
        "subject": "character", "vram_gb": row["vram"], "network": row["network"], "optimizer": row["optimizer"],
        "model": {"family": row["family"], **({"path": model} if model else {})},
    }  # fmt: skip
    request = PlanRequest(out_dir=out, answers=answers, overrides=overrides, dataset=dataset, force=True,
                          concept_counts=[] if dataset else [("bench", 30)])  # fmt: skip
    plan, _ = plan_from_request(request)
    return plan


def measure(plan: Any, sd_scripts: Path, python: str) -> int | None:
    write_plan(plan)
    argv = [python, str(Path(__file__).with_name("peak_probe.py")), str(sd_scripts / plan.script),
            "--config_file", str(plan.out_dir / "config.toml"), "--dataset_config", str(plan.out_dir / "dataset.toml")]
    run = subprocess.run(argv, capture_output=True, text=True, timeout=1200, check=False)
    for line in run.stdout.splitlines():
        if line.startswith("KOHYAWIZ_PEAK_BYTES="):
            return int(line.split("=", 1)[1])
    sys.stderr.write(run.stdout[-2000:] + run.stderr[-2000:])
    return None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--list", action="store_true", help="print the matrix with estimates; train nothing")
    parser.add_argument("--only", choices=sorted(BUDGETS), help="one family")
    parser.add_argument("--steps", type=int, default=6)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="kohyawiz-vram-"))
    env = os.environ
    for i, row in enumerate(matrix(args.only)):
        base = {"max_train_steps": str(args.steps), "max_data_loader_n_workers": "1"}
        if not args.list:
            base["tokenizer_cache_dir"] = env["TOKENIZER_CACHE_DIR"]
        model = None if args.list else env["MODEL_SDXL" if row["family"] == "sdxl" else "MODEL_SD1"]
        dataset = None if args.list else Path(env["DATASET_DIR"])
        planned = plan_row(row, work / f"{i}-hi", base, model, dataset)
        resolution = int(str(planned.value("resolution")).split(",")[0])
        result = {**row, "resolution": resolution, "estimate_gb": planned.vram.estimate_gb,
                  "parts": planned.vram.parts, "ladder": planned.vram.steps}  # fmt: skip
        if args.list:
            print(json.dumps(result))
            continue
        low = LOWER.get(resolution, 384)
        fixed = {"resolution": f"{low},{low}", "max_bucket_reso": str(low), "min_bucket_reso": str(min(256, low))}
        lower = plan_row(row, work / f"{i}-lo", {**base, **fixed}, model, dataset)
        peak_hi = measure(planned, Path(env["SD_SCRIPTS"]), env["SD_PYTHON"])
        peak_lo = measure(lower, Path(env["SD_SCRIPTS"]), env["SD_PYTHON"])
        result["peak_gb"] = None if peak_hi is None else round(peak_hi / GIB, 3)
        result["peak_gb_low_resolution"] = None if peak_lo is None else round(peak_lo / GIB, 3)
        if peak_hi is not None and peak_lo is not None:
            megapixels = (resolution**2 - low**2) / 1e6
            result["activation_gb_per_mp"] = round((peak_hi - peak_lo) / GIB / megapixels, 3)
            result["gradient_checkpointing"] = bool(planned.value("gradient_checkpointing"))
        print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
