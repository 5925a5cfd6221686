"""Opt-in: a plan trains for real on CPU through `kohyawiz train`, with the harness of
shared/sd-scripts. Set KOHYAWIZ_SD_SCRIPTS, KOHYAWIZ_SD_PYTHON (its venv's python),
KOHYAWIZ_E2E_MODEL (the random SD1.5 diffusers folder) and KOHYAWIZ_E2E_TOKENIZERS."""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import pytest
from conftest import make_folder

from kohyawiz.assemble import PlanRequest, plan_from_request
from kohyawiz.emit import write_plan
from kohyawiz.run.sdscripts.locate import find_sd_scripts
from kohyawiz.run.train import PlanFolder, preflight, train

NEEDED = ("KOHYAWIZ_SD_SCRIPTS", "KOHYAWIZ_SD_PYTHON", "KOHYAWIZ_E2E_MODEL", "KOHYAWIZ_E2E_TOKENIZERS")
pytestmark = [
    pytest.mark.sdscripts,
    pytest.mark.skipif(not all(os.environ.get(v) for v in NEEDED), reason="set " + ", ".join(NEEDED)),
]


# Settings people commonly --set that crashed sd-scripts after the model loaded, before the
# constraints (C-LOADER, C-CACHE-AUG, C-OPTIMIZER) made the rest of the plan give way.
COMMON_SETS = {
    "plain": {},
    "workers-0": {"max_data_loader_n_workers": "0"},
    "color-aug": {"max_data_loader_n_workers": "0", "color_aug": "true"},
    "adamw-by-hand": {"max_data_loader_n_workers": "0", "optimizer_type": "AdamW"},
}


@pytest.mark.parametrize("case", sorted(COMMON_SETS))
def test_a_plan_trains_on_the_real_sd_scripts(tmp_path, monkeypatch, case):
    monkeypatch.setenv("KOHYAWIZ_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    make_folder(tmp_path / "data", "1_tinyconcept", [(64, 64)] * 4, "tinyconcept, square")
    request = PlanRequest(
        out_dir=tmp_path / "plan",
        answers={
            "subject": "concept",
            "vram_gb": 12,
            "model": {"family": "sd1", "path": os.environ["KOHYAWIZ_E2E_MODEL"]},
        },
        dataset=tmp_path / "data",
        overrides={
            "resolution": "64",
            "min_bucket_reso": "64",
            "max_bucket_reso": "128",
            "max_train_epochs": "1",
            "mixed_precision": "no",
            "save_precision": "float",
            "max_data_loader_n_workers": "0",
            "persistent_data_loader_workers": "false",
            "tokenizer_cache_dir": os.environ["KOHYAWIZ_E2E_TOKENIZERS"],
        }
        if case == "plain"
        else {
            "resolution": "64", "min_bucket_reso": "64", "max_bucket_reso": "128", "max_train_epochs": "1",
            "mixed_precision": "no", "save_precision": "float",
            "tokenizer_cache_dir": os.environ["KOHYAWIZ_E2E_TOKENIZERS"], **COMMON_SETS[case],
        },
        force=True,
    )
    plan, _ = plan_from_request(request)
    write_plan(plan)
    folder = PlanFolder.load(tmp_path / "plan")
    sd = find_sd_scripts(os.environ["KOHYAWIZ_SD_SCRIPTS"], os.environ["KOHYAWIZ_SD_PYTHON"])
    assert preflight(folder, sd).errors == []
    outcome, record = train(folder, sd)
    assert outcome.status == "completed", (record.folder / "train.log").read_text()[-2000:]
    assert outcome.total_steps == plan.figures.total_steps == 4 and outcome.final_step == 4
    assert Path(outcome.outputs[-1]["path"]).is_file() and outcome.outputs[-1]["mismatches"] == []
    assert list((record.folder / "tensorboard").rglob("events.out.tfevents*")), "no TensorBoard logs in the record"
    log = (record.folder / "train.log").read_text()
    losses = re.findall(r"avr_loss=([0-9.e+-]+|nan|inf)", log)
    assert losses and float(losses[-1]) == outcome.final_loss  # the last loss the log printed


def _resume_bench():
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "resume_cpu", Path(__file__).resolve().parent.parent / "bench" / "resume_cpu.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_killed_twice_and_resumed_ends_with_the_plans_steps(tmp_path, monkeypatch):
    """Issue 22: stopped after its first saved state, resumed, stopped, resumed again."""
    monkeypatch.setenv("KOHYAWIZ_HOME", str(tmp_path / "home"))
    env = {"SD_SCRIPTS": os.environ["KOHYAWIZ_SD_SCRIPTS"], "SD_PYTHON": os.environ["KOHYAWIZ_SD_PYTHON"],
           "MODEL_DIR": os.environ["KOHYAWIZ_E2E_MODEL"], "TOKENIZER_CACHE_DIR": os.environ["KOHYAWIZ_E2E_TOKENIZERS"],
           "DATASET_DIR": os.environ.get("KOHYAWIZ_E2E_DATASET", "/work/sd/dataset")}  # fmt: skip
    result = _resume_bench().kill_twice(tmp_path, env)
    total = result.plan.plan["figures"]["total_steps"]
    statuses = [launch.outcome.status for launch in result.launches]
    assert statuses == ["interrupted", "interrupted", "completed"], statuses
    assert [launch.resumed_at for launch in result.launches] == [None, 4, 8]
    final = result.launches[-1].outcome
    assert final.final_step == final.total_steps == total == 12
    assert final.outputs[-1]["metadata"]["ss_epoch"] == "3"  # the final LoRA names the last epoch
    output = Path(str(result.plan.arg("output_dir")))
    assert {"tinyconcept-000001.safetensors", "tinyconcept-000002.safetensors", "tinyconcept.safetensors"} <= {
        p.name for p in output.iterdir()
    }
    history = result.history
    assert history is not None and len(history.segments) == 3
    assert [(c.epoch, c.step) for c in history.checkpoints] == [(1, 4), (2, 8), (3, 12)]


def test_a_run_with_validation_shows_a_validation_loss_per_checkpoint_and_picks_by_it(tmp_path, monkeypatch):
    """Issue 22: K-VALIDATE (--validate on the harness's 4 images), killed and resumed as above."""
    monkeypatch.setenv("KOHYAWIZ_HOME", str(tmp_path / "home"))
    env = {"SD_SCRIPTS": os.environ["KOHYAWIZ_SD_SCRIPTS"], "SD_PYTHON": os.environ["KOHYAWIZ_SD_PYTHON"],
           "MODEL_DIR": os.environ["KOHYAWIZ_E2E_MODEL"], "TOKENIZER_CACHE_DIR": os.environ["KOHYAWIZ_E2E_TOKENIZERS"],
           "DATASET_DIR": os.environ.get("KOHYAWIZ_E2E_DATASET", "/work/sd/dataset")}  # fmt: skip
    result = _resume_bench().kill_twice(tmp_path, env, validation=True)
    assert result.plan.plan["figures"]["total_steps"] == result.launches[-1].outcome.final_step == 9
    history = result.history
    assert history is not None and len(history.checkpoints) == 3
    losses = [c.validation_loss for c in history.checkpoints]
    assert all(isinstance(loss, float) for loss in losses), losses
    assert history.pick_loss == "validation" and history.pick is not None
    assert history.pick.validation_loss == min(losses) and "by validation loss" in history.pick_reason
