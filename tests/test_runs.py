"""Runs a person reads (K-LOGS, A-LOSS): readable summaries, a loss plot with axes, checkpoints
with their samples and the one to try first, TensorBoard logs in the record, JSON for programs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import make_folder, plan_for
from PIL import Image

from kohyawiz.assemble import PlanRequest, plan_from_request
from kohyawiz.emit import write_plan
from kohyawiz.errors import UserError
from kohyawiz.run.records.history import read_history, sample_key
from kohyawiz.run.sdscripts.locate import find_sd_scripts
from kohyawiz.run.train import PlanFolder, train

HERE = Path(__file__).resolve().parent
FAKE = HERE / "fake_sd"
LOGS = HERE / "data" / "sd-scripts-logs"


@pytest.fixture
def trained(tmp_path, monkeypatch):
    """A plan trained through the test double, replaying a real sd-scripts log (2 epochs, 2 saves)."""
    monkeypatch.setenv("KOHYAWIZ_HOME", str(tmp_path / "home"))
    data = tmp_path / "train"
    make_folder(data, "1_tinyconcept", [(768, 768)] * 20, "tinyconcept, solo")
    model = tmp_path / "model.safetensors"
    model.write_bytes(b"x")
    request = PlanRequest(out_dir=tmp_path / "plan", preset="character-sd15",
                          answers={"vram_gb": 12, "model": {"path": str(model)}, "samples": True}, dataset=data)  # fmt: skip
    plan, _ = plan_from_request(request)
    write_plan(plan)
    folder = PlanFolder.load(tmp_path / "plan")

    def run(log: str):
        env = {"KOHYAWIZ_FAKE_LOG": str(LOGS / log), "KOHYAWIZ_FAKE_DELAY": "0"}
        return train(folder, find_sd_scripts(str(FAKE), sys.executable), env_extra=env)

    return run, tmp_path


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kohyawiz", *args], capture_output=True, text=True, env=os.environ)


def test_runs_list_and_show_read_like_summaries(trained):
    run, _ = trained
    _, record = run("lora-console-log-simple.log")
    _, failed_record = run("fatal-no-data-found.log")
    listed = cli("runs")
    assert listed.returncode == 0 and "None" not in listed.stdout
    lines = {line.split()[0]: line for line in listed.stdout.splitlines()}
    assert "completed" in lines[record.folder.name] and "step 8/8" in lines[record.folder.name]
    assert "no_data" in lines[failed_record.folder.name]  # a failed run shows its reason
    shown = cli("runs", "show", record.folder.name)
    assert shown.returncode == 0 and "None" not in shown.stdout
    assert "Checkpoints (epoch, step" in shown.stdout and "<- try this one first" in shown.stdout
    plot = record.folder / "loss.png"
    assert f"Loss plot: {plot}" in shown.stdout and plot.is_file()
    assert "TensorBoard:" not in shown.stdout  # the test double writes no TensorBoard logs
    failed_shown = cli("runs", "show", failed_record.folder.name).stdout
    assert "why: no_data" in failed_shown and "what to do:" in failed_shown and "None" not in failed_shown
    data = json.loads(cli("runs", "show", record.folder.name, "--json").stdout)
    assert data["status"] == "completed" and data["final_step"] == 8 and len(data["checkpoints"]) == 2
    assert json.loads(cli("runs", "--json").stdout)[0]["id"]


def test_loss_plot_is_drawn_with_axes(trained):
    run, _ = trained
    _, record = run("lora-console-log-simple.log")
    from kohyawiz.run.records.plot import loss_plot

    history = read_history(record.folder)
    path = loss_plot(history, record.folder / "loss.png")
    with Image.open(path) as image:
        assert image.size == (1100, 550)
        dark = sum(image.convert("L").histogram()[:100])
        assert dark > 2000  # axes, ticks, labels and the curve are drawn


def test_checkpoints_pick_and_contact_sheet(trained):
    run, tmp = trained
    _, record = run("lora-console-log-simple.log")
    history = read_history(record.folder)
    assert [c.epoch for c in history.checkpoints] == [1, 2]
    assert history.pick is history.checkpoints[-1] and "no late loss shift" in history.pick_reason
    samples = tmp / "plan" / "output" / "sample"
    samples.mkdir(parents=True)
    for epoch in (1, 2):
        for prompt in (0, 1):
            Image.new("RGB", (64, 64), (epoch * 80, prompt * 100, 50)).save(
                samples / f"tinyconcept_e{epoch:06d}_{prompt:02d}_20261130120000_42.png")
    assert sample_key(samples / "tinyconcept_e000002_01_20261130120000_42.png") == ("epoch", 2, 1)
    history = read_history(record.folder)
    assert [len(c.samples) for c in history.checkpoints] == [2, 2]
    from kohyawiz.run.records.plot import contact_sheet

    sheet = contact_sheet(history, record.folder / "contact_sheet.png")
    with Image.open(sheet) as image:
        assert image.size == (120 + 2 * 192, 2 * 192)


def test_A_LOSS_pick_goes_back_before_a_late_shift(tmp_path):
    folder = tmp_path / "run"
    folder.mkdir()
    events = [{"event": "EpochStarted", "epoch": 1, "total": 4}]
    for step in range(1, 401):
        if step % 100 == 1 and step > 1:
            events.append({"event": "EpochStarted", "epoch": step // 100 + 1, "total": 4})
        loss = 0.10 + 0.001 * (step % 3) if step < 330 else 0.60
        events.append({"event": "Progress", "step": step, "total": 400, "loss": loss})
        if step % 100 == 0:
            events.append({"event": "CheckpointSaved", "path": f"/x/run-{step // 100:06d}.safetensors"})
    (folder / "events.jsonl").write_text("\n".join(json.dumps(e) for e in events) + "\n")
    (folder / "outcome.json").write_text(json.dumps({"status": "completed", "total_steps": 400}))
    history = read_history(folder)
    assert history.loss_shift is not None and history.pick is not None
    assert history.pick.step == 300 and "A-LOSS" in history.pick_reason


def test_runs_compare_overlays(trained, tmp_path):
    run, _ = trained
    _, first = run("lora-console-log-simple.log")
    _, second = run("lora-prodigy-sd1.log")
    out = tmp_path / "cmp.png"
    result = cli("runs", "compare", first.folder.name, second.folder.name, "--out", str(out))
    assert result.returncode == 0 and out.is_file() and "None" not in result.stdout


def test_K_LOGS_tensorboard_by_default_and_trackers_only_when_asked(tmp_path):
    plan = plan_for(tmp_path)
    assert plan.value("logging_dir") == str(tmp_path / "plan" / "logs") and plan.value("log_with") is None
    wandb = plan_for(tmp_path, overrides={"log_with": "wandb"})
    assert any(f.rule == "K-LOGS" and "Weights & Biases" in f.message for f in wandb.findings)
    preset = tmp_path / "shared.toml"
    preset.write_text('schema_version = 1\n[answers]\nsubject = "style"\n[overrides]\nlog_with = "wandb"\n')
    from kohyawiz.presets import load_preset

    with pytest.raises(UserError, match="a shared preset cannot set it"):
        load_preset(str(preset))
    preset.write_text('schema_version = 1\n[answers]\nsubject = "style"\n[overrides]\nhuggingface_repo_id = "me/x"\n')
    with pytest.raises(UserError, match="elsewhere"):
        load_preset(str(preset))
