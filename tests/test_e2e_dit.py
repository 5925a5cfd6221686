"""Opt-in: a diffusion-transformer LoRA trains for real on CPU through `kohyawiz train`, on a model
with random weights built from sd-scripts' own classes (kohyawiz/run/sdscripts/sd_build_model.py), the same
run as `python bench/e2e_cpu.py --family FAMILY`. Set KOHYAWIZ_SD_SCRIPTS, KOHYAWIZ_SD_PYTHON and
KOHYAWIZ_E2E_DIT (families, comma-separated: anima,flux,sd3; flux and sd3 also need
KOHYAWIZ_E2E_TOKENIZERS, the harness's tokenizer cache with a CLIP tokenizer);
KOHYAWIZ_E2E_BUILD_DIR keeps the built models between runs (Anima's DiT alone is 4.2 GB, about 3.5
minutes and 9 GB of memory to build; the full-size T5-XXL of flux and sd3 is 9.5 GB)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from conftest import make_folder

from kohyawiz.families import family_spec
from kohyawiz.run.random_model import train_on_random_model
from kohyawiz.run.sdscripts.locate import find_sd_scripts

NEEDED = ("KOHYAWIZ_SD_SCRIPTS", "KOHYAWIZ_SD_PYTHON", "KOHYAWIZ_E2E_DIT")
FAMILIES = [f.strip() for f in os.environ.get("KOHYAWIZ_E2E_DIT", "").split(",") if f.strip()]
pytestmark = [
    pytest.mark.sdscripts,
    pytest.mark.skipif(not all(os.environ.get(v) for v in NEEDED), reason="set " + ", ".join(NEEDED)),
]


@pytest.mark.parametrize("family", FAMILIES or ["anima"])
def test_a_dit_lora_trains_on_the_real_sd_scripts(tmp_path, monkeypatch, family):
    monkeypatch.setenv("KOHYAWIZ_HOME", str(tmp_path / "home"))
    make_folder(tmp_path / "data", "1_tinyconcept", [(64, 64)] * 2, "tinyconcept, square")
    builds = Path(os.environ.get("KOHYAWIZ_E2E_BUILD_DIR") or tmp_path / "models")
    sd = find_sd_scripts(os.environ["KOHYAWIZ_SD_SCRIPTS"], os.environ["KOHYAWIZ_SD_PYTHON"])
    tokenizers = os.environ.get("KOHYAWIZ_E2E_TOKENIZERS")
    trial = train_on_random_model(
        sd, family, tmp_path / "data", tmp_path / "plan", builds / family, steps=2,
        clip_tokenizers=Path(tokenizers) if tokenizers else None,
    )  # fmt: skip
    summary = trial.summary()
    assert summary["status"] == "completed", summary.get("problems") or (trial.record.folder / "train.log").read_text()[-3000:]
    spec = family_spec(family)
    assert summary["script"] == spec.script and summary["steps"] == summary["planned_steps"] == 2
    assert summary["ss_network_module"] == spec.network_module and summary["metadata_matches"] is True
    assert summary["tensors"] > 0 and Path(summary["lora"]).is_file()
    assert trial.outcome.final_loss is not None and trial.outcome.fatal == []


def test_demo_train_runs_the_whole_pipeline(tmp_path):
    """`kohyawiz demo --train`: a random model built in sd-scripts' venv, a few steps, `runs show`."""
    import subprocess
    import sys

    home = tmp_path / "home"
    if os.environ.get("KOHYAWIZ_E2E_BUILD_DIR"):  # reuse a model built before
        (home / "random-models").mkdir(parents=True)
        (home / "random-models" / "anima").symlink_to(Path(os.environ["KOHYAWIZ_E2E_BUILD_DIR"]) / "anima")
    env = {**os.environ, "KOHYAWIZ_HOME": str(home)}
    run = subprocess.run(
        [sys.executable, "-m", "kohyawiz", "demo", "--train", "--plain", "--out", str(tmp_path / "demo"),
         "--sd-scripts", os.environ["KOHYAWIZ_SD_SCRIPTS"], "--python", os.environ["KOHYAWIZ_SD_PYTHON"]],
        capture_output=True, text=True, env=env,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "$ kohyawiz runs show" in run.stdout and ": completed," in run.stdout
    assert "steps 2/2" in run.stdout and "Random model: DiT" in run.stdout
