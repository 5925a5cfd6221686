"""Plans and trains tiny runs on the real sd-scripts through `kohyawiz train`, and prints the
figures: steps, seconds, it/s, and whether the steps and the LoRA metadata match the plan.

Needs the harness of shared/sd-scripts (a CPU venv with sd-scripts' requirements, a random
full-size SD1.5 UNet, a tokenizer cache, a tiny dataset):

    SD_SCRIPTS=... SD_PYTHON=.../venv/bin/python MODEL_DIR=... TOKENIZER_CACHE_DIR=... \\
    DATASET_DIR=.../dataset python bench/e2e_cpu.py [lora locon loha]

A diffusion-transformer family (anima, flux, sd3) trains a LoRA for a few steps on a model with
random weights that kohyawiz/run/sdscripts/sd_build_model.py builds from sd-scripts' own classes, in
sd-scripts' venv, into BUILD_DIR (reused when it is there; default: kohyawiz-random-models in the
temp folder). It prints one JSON line. MODEL_DIR is not needed; TOKENIZER_CACHE_DIR is for flux
and sd3 (their CLIP tokenizer; Anima's tokenizers ship inside the checkout):

    SD_SCRIPTS=... SD_PYTHON=... DATASET_DIR=... [BUILD_DIR=...] python bench/e2e_cpu.py --family anima [--steps 2]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from kohyawiz.assemble import PlanRequest, plan_from_request
from kohyawiz.emit import write_plan
from kohyawiz.run.random_model import train_on_random_model
from kohyawiz.run.sdscripts.locate import SdScripts, find_sd_scripts
from kohyawiz.run.train import PlanFolder, preflight, train

CPU_OVERRIDES = {
    "resolution": "64", "min_bucket_reso": "64", "max_bucket_reso": "128", "max_train_epochs": "1",
    "mixed_precision": "no", "save_precision": "float", "max_data_loader_n_workers": "0",
    "persistent_data_loader_workers": "false",
}  # fmt: skip


def offline_setup() -> tuple[SdScripts, Path]:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ["CUDA_VISIBLE_DEVICES"] = ""
    sd = find_sd_scripts(os.environ["SD_SCRIPTS"], os.environ["SD_PYTHON"])
    work = Path(tempfile.mkdtemp(prefix="kohyawiz-e2e-"))
    os.environ.setdefault("KOHYAWIZ_HOME", str(work / "home"))
    return sd, work


def train_dit(family: str, steps: int) -> dict[str, Any]:
    sd, work = offline_setup()
    build_dir = Path(os.environ.get("BUILD_DIR") or Path(tempfile.gettempdir()) / "kohyawiz-random-models")
    tokenizers = os.environ.get("TOKENIZER_CACHE_DIR")
    trial = train_on_random_model(
        sd, family, Path(os.environ["DATASET_DIR"]), work / family, build_dir / family, steps=steps,
        clip_tokenizers=Path(tokenizers) if tokenizers else None,
    )  # fmt: skip
    return trial.summary()


def main(networks: list[str]) -> None:
    env = os.environ
    sd, work = offline_setup()
    for network in networks:
        request = PlanRequest(
            out_dir=work / network,
            answers={
                "subject": "concept",
                "vram_gb": 12,
                "network": network,
                "model": {"family": "sd1", "path": env["MODEL_DIR"]},
            },
            dataset=Path(env["DATASET_DIR"]),
            overrides={**CPU_OVERRIDES, "tokenizer_cache_dir": env["TOKENIZER_CACHE_DIR"]},
            force=True,
        )
        plan, _ = plan_from_request(request)
        write_plan(plan)
        folder = PlanFolder.load(work / network)
        problems = preflight(folder, sd).errors
        if problems:
            print(f"{network}: preflight failed: {problems[0]}")
            continue
        rates: list[float] = []

        def keep_rate(event: object, rates: list[float] = rates) -> None:
            rate = getattr(event, "rate", None)
            if rate:
                rates.append(rate)

        start = time.monotonic()
        outcome, record = train(folder, sd, on_event=keep_rate)
        seconds = time.monotonic() - start
        mismatches = [m for o in outcome.outputs for m in o.get("mismatches", [])]
        print(
            f"{network}: {outcome.status}, {outcome.final_step}/{outcome.total_steps} steps "
            f"(plan said {plan.figures.total_steps}), {seconds:.0f} s wall, {rates[-1] if rates else 0:.3f} it/s, "
            f"final loss {outcome.final_loss}, metadata {mismatches or 'matches'}, record {record.folder}"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("networks", nargs="*", default=["lora", "locon", "loha"], help="SD1.5 networks to train")
    parser.add_argument("--family", help="a diffusion-transformer family: trains a LoRA on a random model")
    parser.add_argument("--steps", type=int, default=2, help="training steps for --family (default 2)")
    options = parser.parse_args()
    if options.family:
        print(json.dumps(train_dit(options.family, options.steps)))
    else:
        main(options.networks)
