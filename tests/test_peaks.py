"""Every run measures itself (K-MEASURED): a stand-in nvidia-smi reports the run's process, the
peaks land in the run record beside the prediction, `runs show` prints both, and the next plan on
that GPU model uses the measured ratio."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest
from conftest import plan_for
from test_run import FAKE, fake_env, plan_dir  # noqa: F401 (a fixture)

from kohyawiz.cli.runs_cmd import run_memory_lines
from kohyawiz.memory.machine import CALIBRATION_FILE
from kohyawiz.run import peaks
from kohyawiz.run.sdscripts.locate import find_sd_scripts
from kohyawiz.run.train import PlanFolder, train

GPU = "NVIDIA Stand-in 24GB"
STAND_IN = """#!{python}
import os, sys
from pathlib import Path
pidfile = Path({pidfile!r})
args = " ".join(sys.argv[1:])
if "--query-compute-apps" in args:
    if pidfile.exists():
        print(pidfile.read_text().strip() + ", 6144, {gpu}")
    print("999999, 2048, {gpu}")  # another user's process: not the run's
elif "--query-gpu" in args:
    print("8192, {gpu}")
"""
LOG = Path(__file__).resolve().parent / "data" / "sd-scripts-logs" / "lora-console-log-simple.log"


@pytest.fixture
def stand_in_nvidia_smi(tmp_path, monkeypatch):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    tool = bin_dir / "nvidia-smi"
    tool.write_text(STAND_IN.format(python=sys.executable, pidfile=str(tmp_path / "trainer.pid"), gpu=GPU))
    tool.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setattr(peaks, "SAMPLE_EVERY_S", 0.05)
    return tool


@pytest.mark.skipif(not LOG.is_file(), reason="the shared sd-scripts logs are not beside this checkout")
def test_K_MEASURED_a_run_keeps_its_peaks_and_teaches_the_next_plan(plan_dir, stand_in_nvidia_smi, tmp_path):  # noqa: F811
    pidfile = tmp_path / "trainer.pid"
    env = fake_env(LOG, KOHYAWIZ_FAKE_PIDFILE=str(pidfile), KOHYAWIZ_FAKE_DELAY="0.02")
    outcome, record = train(PlanFolder.load(plan_dir), find_sd_scripts(str(FAKE), sys.executable), env_extra=env)
    assert outcome.status == "completed"
    memory = json.loads((record.folder / "memory.json").read_text())
    measured, predicted = memory["measured"], memory["predicted"]
    assert measured["source"] == "nvidia-smi" and measured["gpu_name"] == GPU
    assert measured["vram_gb"] == 6.0  # the run's 6144 MiB, not the other process's
    assert measured["ram_gb"] > 0 and measured["samples"] >= 2
    plan = json.loads((plan_dir / "plan.json").read_text())
    assert predicted["vram_gb"] == plan["figures"]["vram"]["estimate_gb"]
    assert memory["ratio"] == pytest.approx(6.0 / predicted["vram_gb"], abs=0.001)
    lines = run_memory_lines(record.folder)
    assert lines[0].startswith(f"Memory: VRAM predicted {predicted['vram_gb']:.1f} GB")
    assert "measured 6.0 GB peak (nvidia-smi)" in lines[0] and "RAM predicted" in lines[1]
    learned = json.loads((Path(os.environ["KOHYAWIZ_HOME"]) / CALIBRATION_FILE).read_text())[GPU]
    assert learned["runs"] == 1 and learned["run"] == record.folder.name
    if 0.5 <= memory["ratio"] <= 2.0:
        corrected = plan_for(tmp_path / "next", gpu_name=GPU)
        assert corrected.vram.correction == learned["ratio"]


@pytest.mark.skipif(not LOG.is_file(), reason="the shared sd-scripts logs are not beside this checkout")
def test_without_nvidia_smi_ram_is_still_measured(plan_dir, monkeypatch, tmp_path):  # noqa: F811
    monkeypatch.setattr(peaks.shutil, "which", lambda _name: None)
    monkeypatch.setattr(peaks, "SAMPLE_EVERY_S", 0.05)
    env = fake_env(LOG, KOHYAWIZ_FAKE_DELAY="0.02")
    _outcome, record = train(PlanFolder.load(plan_dir), find_sd_scripts(str(FAKE), sys.executable), env_extra=env)
    memory = json.loads((record.folder / "memory.json").read_text())
    assert memory["measured"]["source"] == "none" and memory["measured"]["vram_gb"] is None
    assert memory["measured"]["ram_gb"] > 0 and memory["ratio"] is None
    assert "not measured" in run_memory_lines(record.folder)[0]
    assert not (Path(os.environ["KOHYAWIZ_HOME"]) / CALIBRATION_FILE).exists()


def test_process_tree_and_rss_of_this_process():
    tree = peaks.process_tree(os.getpid())
    assert os.getpid() in tree
    assert peaks.tree_rss_bytes({os.getpid()}) > 10 * 1024**2


def test_learn_ratio_keeps_a_running_mean_and_ignores_wild_ratios(tmp_path):
    record = {"ratio": 1.2, "measured": {"gpu_name": GPU}}
    assert peaks.learn_ratio(tmp_path, record, "r1") == {"ratio": 1.2, "runs": 1, "run": "r1"}
    assert peaks.learn_ratio(tmp_path, {**record, "ratio": 1.0}, "r2") == {"ratio": 1.1, "runs": 2, "run": "r2"}
    assert peaks.learn_ratio(tmp_path, {**record, "ratio": 7.0}, "r3") is None  # an OOM or a stop, not the model
