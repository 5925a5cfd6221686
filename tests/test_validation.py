"""Validation that picks the checkpoint (issue 22): K-VALIDATE decides from the counts, the log's
validation bars become losses, and the run history picks the checkpoint with the lowest one (the
late-shift rule A-LOSS still applies)."""

from __future__ import annotations

from pathlib import Path

from conftest import plan_for

from kohyawiz.run import logparse
from kohyawiz.run.records.history import read_history
from kohyawiz.run.records.record import RunRecord
from kohyawiz.run.train import Watcher

DATA = Path(__file__).resolve().parent / "data"


def test_K_VALIDATE_on_when_every_concept_can_spare_images(tmp_path):
    plan = plan_for(tmp_path, concepts=[{"name": "x", "images": 40, "repeats": 2}])
    split = plan.decision("validation_split")
    assert split.value == 0.1 and split.rule == "K-VALIDATE" and "keeps 36" in split.reason
    assert plan.value("validation_seed") == 42
    assert plan.value("validate_every_n_epochs") == plan.value("save_every_n_epochs")
    assert plan.figures.images_with_repeats == 36 * 2  # sd-scripts trains ceil(40 x 0.9) of them
    assert any("36 of 40" in line for line in plan.figures.arithmetic)


def test_K_VALIDATE_off_for_a_small_set_unless_asked(tmp_path):
    plan = plan_for(tmp_path / "a", concepts=[{"name": "x", "images": 20, "repeats": 5}])
    assert plan.value("validation_split") is None
    assert "fewer than 40" in plan.decision("validation_split").reason
    asked = plan_for(tmp_path / "b", validation=True, concepts=[{"name": "x", "images": 4, "repeats": 25}])
    assert asked.value("validation_split") == 0.25 and asked.figures.images_with_repeats == 3 * 25


def test_K_VALIDATE_off_when_refused_or_impossible(tmp_path):
    big = [{"name": "x", "images": 60, "repeats": 2}]
    assert plan_for(tmp_path / "a", validation=False, concepts=big).value("validation_split") is None
    old = plan_for(tmp_path / "b", validation=True, concepts=big, sd_scripts_version="v0.9.1")
    assert old.value("validation_split") is None
    assert any(f.rule == "K-VALIDATE" and f.level == "warn" and "no validation" in f.message for f in old.findings)
    one_epoch = plan_for(tmp_path / "c", concepts=big, overrides={"max_train_epochs": 1})
    assert "single epoch" in one_epoch.decision("validation_split").reason


def test_K_VALIDATE_validates_each_epoch_when_saving_by_steps(tmp_path):
    plan = plan_for(tmp_path, concepts=[{"name": "x", "images": 40, "repeats": 2}], overrides={"max_train_steps": 300})
    assert plan.value("save_every_n_steps") and plan.value("validation_split") == 0.1
    assert plan.value("validate_every_n_epochs") is None and plan.value("validate_every_n_steps") is None


def _record(tmp_path: Path, text: str) -> Path:
    record = RunRecord.create("val", {"decisions": []}, [])
    watcher = Watcher(record, states_in=(tmp_path / "out", "val"))
    watcher.text(text)
    watcher.close()
    watcher.outcome.status = "completed"
    record.finish(watcher.outcome.as_dict())
    return record.folder


def _epoch(epoch: int, epochs: int, steps: int, first: int, val_loss: float | None, train_loss: float = 0.1) -> str:
    total = epochs * steps
    out = f"\nepoch {epoch}/{epochs}\n"
    for step in range(first, first + steps):
        out += f"\rsteps:  50%|#####| {step}/{total} [00:01<00:01,  1.00it/s, avr_loss={train_loss}]"
    if val_loss is not None:
        out += "\repoch validation steps:   0%|          | 0/4 [00:00<?, ?it/s]"
        out += f"\repoch validation steps: 100%|##########| 4/4 [00:01<00:00,  3.00it/s, val_epoch_avg_loss={val_loss}, timestep=800]"
    name = f"val-{epoch:06d}.safetensors" if epoch < epochs else "val.safetensors"
    return out + f"\nsaving checkpoint: /out/{name}\n"


def test_the_pick_is_the_lowest_validation_loss(tmp_path, monkeypatch):
    monkeypatch.setenv("KOHYAWIZ_HOME", str(tmp_path / "home"))
    losses = [0.30, 0.21, 0.18, 0.25]
    text = "".join(_epoch(e + 1, 4, 5, e * 5 + 1, loss) for e, loss in enumerate(losses))
    history = read_history(_record(tmp_path, text))
    assert [c.validation_loss for c in history.checkpoints] == losses
    assert history.pick is history.checkpoints[2] and history.pick_loss == "validation"
    assert "by validation loss" in history.pick_reason and "0.18" in history.pick_reason
    assert [(e, s) for e, s, _ in history.validation] == [(1, 5), (2, 10), (3, 15), (4, 20)]


def test_A_LOSS_still_bounds_the_validation_pick(tmp_path, monkeypatch):
    monkeypatch.setenv("KOHYAWIZ_HOME", str(tmp_path / "home"))
    losses = [0.30, 0.25, 0.20, 0.19, 0.18, 0.10]  # the lowest comes after the late shift
    text = "".join(
        _epoch(e + 1, 6, 20, e * 20 + 1, loss, train_loss=0.1 if e < 4 else 0.9) for e, loss in enumerate(losses)
    )
    history = read_history(_record(tmp_path, text))
    assert history.loss_shift is not None
    assert history.pick is not None and history.pick.step is not None and history.pick.step < history.loss_shift["step"]
    assert history.pick_loss == "validation" and "A-LOSS" in history.pick_reason
    assert history.pick.validation_loss == min(
        c.validation_loss for c in history.checkpoints if c.step is not None and c.step < history.loss_shift["step"]
    )


def test_without_validation_the_pick_says_it_used_the_training_loss(tmp_path, monkeypatch):
    monkeypatch.setenv("KOHYAWIZ_HOME", str(tmp_path / "home"))
    history = read_history(_record(tmp_path, "".join(_epoch(e + 1, 3, 5, e * 5 + 1, None) for e in range(3))))
    assert history.pick is history.checkpoints[-1] and history.pick_loss == "training"
    assert "by training loss" in history.pick_reason


def test_validation_bar_parses_only_where_a_pass_starts_and_ends():
    parser = logparse.LogParser()
    text = (
        "\repoch validation steps:   0%|          | 0/4 [00:00<?, ?it/s]"
        "\repoch validation steps:  50%|#####     | 2/4 [00:01<00:01,  2.00it/s, val_epoch_avg_loss=0.2, timestep=400]"
        "\repoch validation steps: 100%|##########| 4/4 [00:02<00:00,  2.00it/s, val_epoch_avg_loss=0.125, timestep=800]"
        "\repoch validation steps: 100%|##########| 4/4 [00:02<00:00,  2.00it/s, val_epoch_avg_loss=0.125, timestep=800]\n"
    )
    events = [e for e in parser.feed(text) + parser.close() if isinstance(e, logparse.Validation)]
    assert events == [logparse.Validation("epoch", 0, 4, None), logparse.Validation("epoch", 4, 4, 0.125)]


def test_a_real_validation_pass_from_a_cpu_run(tmp_path, monkeypatch):
    """tests/data/validation-epoch-cpu.log: epoch 1 of bench/resume_cpu.py --validate on sd-scripts
    main 48d368fa (CPU): its training bar, the epoch validation bar (4 timesteps of 1 image, drawn
    with tqdm's cursor-up for a second bar) and the checkpoint saved after it."""
    monkeypatch.setenv("KOHYAWIZ_HOME", str(tmp_path / "home"))
    text = (DATA / "validation-epoch-cpu.log").read_text(encoding="utf-8")
    events = [e for e in logparse.LogParser().feed(text) if isinstance(e, logparse.Validation)]
    assert events[0] == logparse.Validation("epoch", 0, 4, None)
    assert [e.loss for e in events[1:]] == [1.49, 2.47]  # tqdm drew 4/4 before and after the last postfix
    record = RunRecord.create("val", {"decisions": []}, [])
    watcher = Watcher(record, states_in=(tmp_path / "out", "tinyconcept"))
    watcher.text(text)
    watcher.close()
    assert watcher.outcome.validation == [{"per": "epoch", "epoch": 1, "step": 3, "loss": 2.47}]
    record.finish(watcher.outcome.as_dict())
    history = read_history(record.folder)
    assert history.validation == [(1, 3, 2.47)] and history.checkpoints[0].validation_loss == 2.47


def test_K_VALIDATE_fixes_the_seed_of_a_hand_set_split(tmp_path):
    plan = plan_for(tmp_path, concepts=[{"name": "x", "images": 20, "repeats": 5}], overrides={"validation_split": 0.2})
    assert plan.value("validation_split") == 0.2 and plan.value("validation_seed") == 42
    assert plan.figures.images_with_repeats == 16 * 5


def test_plan_says_it_sets_images_aside_and_counts_in_steps(tmp_path):
    import os
    import subprocess
    import sys

    env = {**os.environ, "KOHYAWIZ_HOME": str(tmp_path / "home")}
    run = subprocess.run(
        [sys.executable, "-m", "kohyawiz", "plan", "--subject", "concept", "--family", "sd1", "--concept", "x=40", "--vram", "12",
         "--out", str(tmp_path / "p"), "--set", "max_train_steps=300"],
        capture_output=True, text=True, env=env,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    assert "300 steps (max_train_steps) over" in run.stdout
    assert "0.1 of each concept's images set aside for a validation loss (K-VALIDATE)" in run.stdout
