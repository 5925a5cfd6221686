"""Opt-in: plans for a matrix of answers go through sd-scripts' real argument parser and its
dataset-config validator, in sd-scripts' own environment (KOHYAWIZ_SD_SCRIPTS, KOHYAWIZ_SD_PYTHON)."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
from pathlib import Path

import pytest
from conftest import plan_for

from kohyawiz.emit import write_plan

NEEDED = ("KOHYAWIZ_SD_SCRIPTS", "KOHYAWIZ_SD_PYTHON")
pytestmark = [
    pytest.mark.sdscripts,
    pytest.mark.skipif(not all(os.environ.get(v) for v in NEEDED), reason="set " + ", ".join(NEEDED)),
]
CHECKER = Path(__file__).resolve().parent.parent / "kohyawiz" / "run" / "sdscripts" / "sd_probe.py"


def probe(folders: list[str]) -> list[dict]:
    """sd-scripts' own verdict (kohyawiz/run/sdscripts/sd_probe.py) on each plan folder, in its environment."""
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "HF_HUB_OFFLINE": "1"}
    run = subprocess.run(
        [os.environ["KOHYAWIZ_SD_PYTHON"], str(CHECKER), *folders],
        cwd=os.environ["KOHYAWIZ_SD_SCRIPTS"], capture_output=True, text=True, env=env, timeout=600,
    )  # fmt: skip
    results = [json.loads(line) for line in run.stdout.splitlines() if line.startswith("{")]
    assert len(results) == len(folders), run.stderr[-3000:]
    return results


def test_plans_pass_the_real_parser_and_validator(tmp_path):
    folders = []
    subjects = ["character", "concept", "object", "clothing", "style"]
    networks = ["lora", "locon", "loha", "lokr", "dylora", "glora", "ia3", "diag-oft", "boft", "full"]
    optimizers = ["prodigy", "dadaptadam", "adamw", "adamw8bit"]
    # SDXL's smallest card is its doc's 8 GB (docs/train_SDXL-en.md): with samples on, its sampling phase
    # does not fit 6 GB and K-VRAM refuses it, as it should.
    for i, (family, network) in enumerate(itertools.product(["sd1", "sd2", "sdxl"], networks)):
        folder = tmp_path / f"{family}-{network}"
        plan = plan_for(
            folder, subject=subjects[i % 5], network=network, optimizer=optimizers[i % 4], vram_gb=80 if network == "full" else [8 if family == "sdxl" else 6, 12, 24][i % 3],
            model={"family": family, "tags": ["natural", "booru", "e6"][i % 3], "vpred": family == "sd2", "zsnr": i % 2 == 0},
            concepts=[{"name": "a, x", "images": 30}, {"name": "a, y", "images": 11}], samples=True,
            with_other_loras=i % 2 == 1, asymmetric=i % 3 == 0,
        )  # fmt: skip
        write_plan(plan)
        folders.append((plan, str(folder / "plan")))
    # Plans the constraints and the targets changed (C-LOADER, C-CACHE-AUG, C-TECACHE-CAPTIONS, T-PASSES).
    changed = [
        {"overrides": {"max_data_loader_n_workers": 0}},
        {"overrides": {"color_aug": True}, "vram_gb": 6},
        {"overrides": {"shuffle_caption": True}, "model": {"family": "sdxl"}, "vram_gb": 8},
        {"concepts": [{"name": "x", "images": 30, "folder_repeats": 150}]},
        {"overrides": {"optimizer_type": "AdamW", "max_train_steps": 300}},
        # K-VALIDATE: validation_split and validation_seed in dataset.toml, validate_every_n_epochs in config.toml
        {"concepts": [{"name": "x", "images": 40, "repeats": 2}]},
        {"validation": True, "concepts": [{"name": "x", "images": 4, "repeats": 25}]},
    ]
    for j, changes in enumerate(changed):
        folder = tmp_path / f"changed-{j}"
        plan = plan_for(folder, **changes)
        write_plan(plan)
        folders.append((plan, str(folder / "plan")))
    results = probe([f for _, f in folders])
    for (plan, _), result in zip(folders, results, strict=True):
        assert result["ok"], result
        assert result["repeats"] == [c.repeats for c in plan.concepts]


def test_every_dit_family_passes_its_trainers_own_checks_with_sd_scripts_step_count(tmp_path):
    """Header-only checkpoints and companion files, real image folders: the real parser, config
    loader, blueprint, dataset group and each trainer's assert_extra_args, and the same steps."""
    from test_families import DITS, model_with_companions

    from kohyawiz.assemble import PlanRequest, plan_from_request
    from kohyawiz.demo import png_bytes

    data = tmp_path / "data"
    for name, repeats, sizes in (("hmbrgr", 10, [(1024, 1024), (832, 1216), (1216, 832)] * 4), ("frs", 3, [(900, 1400)] * 7)):
        folder = data / f"{repeats}_{name}"
        folder.mkdir(parents=True)
        for i, (w, h) in enumerate(sizes):
            (folder / f"{i}.png").write_bytes(png_bytes(w, h, i))
            (folder / f"{i}.txt").write_text(f"{name}, thing")
    folders = []
    for i, family in enumerate(DITS):
        model = model_with_companions(tmp_path / "models" / family, family)
        request = PlanRequest(
            tmp_path / family, answers={"subject": "character", "vram_gb": [8, 12, 16, 24, 48, 80][i],
                                        "model": {"path": str(model)}, "samples": True},
            dataset=data, force=True,
        )  # fmt: skip
        plan, _ = plan_from_request(request)
        write_plan(plan)
        folders.append((plan, str(tmp_path / family)))
    results = probe([f for _, f in folders])
    for (plan, _), result in zip(folders, results, strict=True):
        assert result["ok"], result
        assert result["network_module"] == plan.value("network_module")
        assert result["total_steps"] == plan.figures.total_steps and plan.figures.exact
