"""Measure what kohyawiz's plans take on a GPU, phase by phase, beside the memory model's estimate.

One command on a GPU day (at most about 8 minutes: rows stop being started past --budget-s):

    SD_SCRIPTS=/path/to/sd-scripts SD_PYTHON=/path/to/sd-venv/bin/python python bench/vram_gpu.py > bench/vram_gpu.jsonl
    python bench/vram_gpu.py --list          # the matrix and its estimates; no GPU, no sd-scripts

Each row plans a family at a card size with header-only stand-ins for the model and its companion
files (no model files are needed), then runs each of the plan's phases in its own process
(bench/phase_probe.py, with sd-scripts' Python) on random full-size weights built from
sd-scripts' own classes. It prints one JSON line per phase: the plan's figure for that phase,
torch.cuda.max_memory_allocated / max_memory_reserved, and the process's peak as nvidia-smi
reports it (kohyawiz.run.peaks, as `kohyawiz train` samples its runs). The rows use cards large
enough that the plan keeps half-precision weights and swaps no blocks, so what is measured is
what the estimate adds up: weights, LoRA, optimizer state and activations.
"""

from __future__ import annotations

import argparse
import json
import os
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from kohyawiz.assemble import PlanRequest, plan_from_request  # noqa: E402
from kohyawiz.families import family_spec  # noqa: E402

# (family, card GB): SD at the cards people train on; the DiTs at 80 GB, where their plans keep
# bf16 weights (HunyuanImage's 17 B parameters need it); an H200 holds every row.
ROWS = (
    ("sd1", 8), ("sd1", 24), ("sdxl", 12), ("sdxl", 24), ("flux", 80), ("chroma", 80), ("sd3", 80),
    ("lumina", 80), ("anima", 80), ("hunyuan-image", 80),
)  # fmt: skip
PHASES = ("training", "latent_caching", "text_encoder_caching")
T5_FAMILIES = ("flux", "chroma", "sd3")


def _header_file(path: Path, dtype: str = "BF16") -> str:
    header = json.dumps({"w": {"dtype": dtype, "shape": [4, 4], "data_offsets": [0, 0]}}).encode()
    path.write_bytes(struct.pack("<Q", len(header)) + header)
    return str(path)


def plan_row(family: str, vram: int, work: Path) -> Any:
    """The plan kohyawiz makes for `family` on a `vram` GB card, from header-only stand-ins."""
    work.mkdir(parents=True, exist_ok=True)
    overrides = {"train_batch_size": "1", "max_data_loader_n_workers": "0", "network_train_unet_only": "true"}
    for companion in family_spec(family).companions:
        overrides[companion.arg] = _header_file(work / f"{companion.arg}.safetensors")
    answers: dict[str, Any] = {"subject": "character", "vram_gb": vram, "ram_gb": 512, "model": {"family": family}}
    request = PlanRequest(out_dir=work / "plan", answers=answers, overrides=overrides, force=True,
                          concept_counts=[("bench", 30)])  # fmt: skip
    plan, _ = plan_from_request(request)
    return plan


def probe_spec(plan: Any, family: str, phase: str) -> dict[str, Any]:
    size = int(str(plan.value("resolution") or "1024").split(",")[0])
    keys = ("network_dim", "optimizer_type", "gradient_checkpointing", "mixed_precision", "no_half_vae")
    return {"family": family, "phase": phase, "size": size, **{k: plan.value(k) for k in keys}}


def run_probe(spec: dict[str, Any], python: str) -> dict[str, Any]:
    from kohyawiz.run.peaks import PeakSampler

    sampler = PeakSampler(every_s=0.2)
    child = subprocess.Popen([python, str(Path(__file__).with_name("phase_probe.py")), json.dumps(spec)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    sampler.start(child.pid)
    try:
        out, err = child.communicate(timeout=300)
    except subprocess.TimeoutExpired:
        child.kill()
        out, err = child.communicate()
    peaks = sampler.stop()
    line = next((x for x in out.splitlines() if x.startswith("KOHYAWIZ_PHASE=")), None)
    result = json.loads(line.split("=", 1)[1]) if line else {"error": (err or out)[-500:]}
    result["nvidia_smi_gb"] = peaks.vram_gb
    result["gpu"] = peaks.gpu_name
    return result


def phases_for(plan: Any, family: str) -> list[str]:
    phases = ["training"]
    if plan.vram and "latent_caching" in plan.vram.phases and family in ("sd1", "sd2", "sdxl", "flux", "chroma", "sd3"):
        phases.append("latent_caching")
    if family in T5_FAMILIES:
        phases.append("text_encoder_caching")  # the T5-XXL pass (the CLIPs are small beside it)
    return phases


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--list", action="store_true", help="print the matrix with estimates; run nothing")
    parser.add_argument("--only", action="append", help="these families only")
    parser.add_argument("--budget-s", type=float, default=450, help="start no row after this many seconds")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="kohyawiz-vram-"))
    python = os.environ.get("SD_PYTHON", sys.executable)
    start = time.monotonic()
    for index, (family, vram) in enumerate(ROWS):
        if args.only and family not in args.only:
            continue
        plan = plan_row(family, vram, work / str(index))
        estimate = plan.vram
        row = {"family": family, "vram": vram, "resolution": plan.value("resolution"),
               "network_dim": plan.value("network_dim"), "optimizer": plan.value("optimizer_type"),
               "estimate_gb": estimate.estimate_gb, "phase": estimate.phase}  # fmt: skip
        if args.list:
            print(json.dumps({**row, "phases": estimate.phases, "parts": estimate.parts, "ladder": estimate.steps}))
            continue
        for phase in phases_for(plan, family):
            if time.monotonic() - start > args.budget_s:
                print(json.dumps({**row, "phase_measured": phase, "skipped": "past --budget-s"}), flush=True)
                continue
            measured = run_probe(probe_spec(plan, family, phase), python)
            predicted = estimate.phases.get(phase)
            if phase == "training" and predicted is not None:  # the probe loads no text encoder or VAE
                predicted = round(predicted - estimate.parts["text_encoders"] - estimate.parts["vae"], 2)
            if phase == "text_encoder_caching":
                predicted = round(4_762_310_656 * 2 / 1024**3 + 0.2 + estimate.parts["runtime"], 2)  # T5 alone
            print(json.dumps({**row, "phase_measured": phase, "predicted_gb": predicted, **measured}), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
