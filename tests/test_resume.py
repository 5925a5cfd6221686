"""Resume that counts (issue 22): the ledger in each run record, the arguments that make sd-scripts
continue the run's count, and one run across its resumes. The test double (tests/fake_sd/simulate.py)
reproduces train_network.py's resume arithmetic, so a wrong argument trains the wrong steps here."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from conftest import make_folder

from kohyawiz.assemble import PlanRequest, plan_from_request
from kohyawiz.emit import write_plan
from kohyawiz.errors import UserError
from kohyawiz.facts import resolve_version
from kohyawiz.run import train as train_module
from kohyawiz.run.records.history import read_history
from kohyawiz.run.records.ledger import ResumePoint, read_segment
from kohyawiz.run.sdscripts.locate import find_sd_scripts
from kohyawiz.run.train import PlanFolder, build_argv, resume_point, train

FAKE = Path(__file__).resolve().parent / "fake_sd"


def make_plan(tmp_path: Path, images: int, repeats: int, **overrides: str) -> PlanFolder:
    data = tmp_path / "train"
    make_folder(data, f"{repeats}_tinyconcept", [(512, 512)] * images, "tinyconcept, solo")
    model = tmp_path / "model.safetensors"
    model.write_bytes(b"x")
    request = PlanRequest(
        out_dir=tmp_path / "plan",
        answers={"subject": "concept", "vram_gb": 12, "model": {"family": "sd1", "path": str(model)},
                 "save_state": True},
        dataset=data,
        overrides={"resolution": "512", **overrides},
        force=True,
    )  # fmt: skip
    plan, _ = plan_from_request(request)
    write_plan(plan)
    return PlanFolder.load(tmp_path / "plan")


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("KOHYAWIZ_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def simulate(tmp_path: Path, kill_after_states: int = 0) -> dict[str, str]:
    return {"KOHYAWIZ_FAKE_SIMULATE": "1", "KOHYAWIZ_FAKE_TRAINED": str(tmp_path / "trained.txt"),
            "KOHYAWIZ_FAKE_KILL_AFTER_STATES": str(kill_after_states)}  # fmt: skip


def lineage_steps(tmp_path: Path, starts: list[int]) -> list[tuple[int, int]]:
    """The batches that count: each launch's, up to the step the next one resumed from."""
    launches: list[list[tuple[int, int]]] = []
    for line in (tmp_path / "trained.txt").read_text().splitlines():
        if line == "launch":
            launches.append([])
        else:
            epoch, batch = line.split()
            launches[-1].append((int(epoch), int(batch)))
    kept = []
    for index, launch in enumerate(launches):
        until = starts[index + 1] - starts[index] if index + 1 < len(starts) else len(launch)
        kept += launch[:until]
    return kept


def kill_twice(tmp_path: Path, plan: PlanFolder) -> tuple[list, list[int]]:
    sd = find_sd_scripts(str(FAKE), sys.executable)
    outcomes, starts, resume = [], [], None
    for kill in (1, 1, 0):
        outcome, record = train(plan, sd, resume=resume, env_extra=simulate(tmp_path, kill))
        outcomes.append((outcome, record))
        starts.append(0 if resume is None else resume.step)
        if kill:
            resume = resume_point(plan)
    return outcomes, starts


def test_killed_twice_and_resumed_by_epoch_trains_the_plans_steps_once(tmp_path, home):
    plan = make_plan(tmp_path, 4, 1, max_train_epochs="3", save_every_n_epochs="1")
    assert plan.plan["figures"]["total_steps"] == 12
    outcomes, starts = kill_twice(tmp_path, plan)
    assert starts == [0, 4, 8]
    assert [o.status for o, _ in outcomes] == ["failed", "failed", "completed"]
    final, _ = outcomes[-1]
    assert final.final_step == final.total_steps == 12 and final.start_step == 8
    trained = lineage_steps(tmp_path, starts)
    assert len(trained) == 12 and Counter(trained).most_common(1)[0][1] == 1  # every batch once
    output = Path(plan.arg("output_dir"))
    assert {p.name for p in output.glob("*.safetensors")} == {
        "tinyconcept-000001.safetensors", "tinyconcept-000002.safetensors", "tinyconcept.safetensors",
    }  # fmt: skip
    history = read_history(outcomes[0][1].folder)  # any record shows the whole run
    assert [s.id for s in history.segments] == [r.folder.name for _, r in outcomes]
    assert [(c.epoch, c.step) for c in history.checkpoints] == [(1, 4), (2, 8), (3, 12)]
    assert history.final_step == 12 and history.status == "completed"
    assert max(s for s, _ in history.losses) == 12 and len(history.losses) == 12


def test_a_mid_epoch_state_skips_the_batches_it_trained(tmp_path, home):
    plan = make_plan(tmp_path, 4, 3, max_train_epochs="1")
    assert plan.plan["figures"]["total_steps"] == 12
    config = (plan.folder / "config.toml").read_text()
    assert "save_every_n_steps = 2" in config  # T-SAVE: one epoch saves by steps
    outcomes, starts = kill_twice(tmp_path, plan)
    assert starts == [0, 2, 4]
    trained = lineage_steps(tmp_path, starts)
    assert len(trained) == 12 and len(set(trained)) == 12
    assert outcomes[-1][0].final_step == 12
    segment = read_segment(outcomes[1][1].folder)
    assert [(Path(s.path).name, s.step) for s in segment.states][:1] == [("tinyconcept-step00000004-state", 4)]


def test_resume_alone_is_what_the_double_catches(tmp_path, home, monkeypatch):
    """Without --initial_step the second resume reads train_state.json, which holds the resumed
    process's own count: the double then trains an epoch again, as sd-scripts does."""
    plan = make_plan(tmp_path, 4, 1, max_train_epochs="3", save_every_n_epochs="1")
    monkeypatch.setattr(train_module, "resume_args", lambda point, sd, accumulation: ["--resume", str(point.state)])
    _, starts = kill_twice(tmp_path, plan)
    trained = lineage_steps(tmp_path, starts)
    assert len(trained) == 16 and Counter(epoch for epoch, _ in trained)[2] == 8  # epoch 2 twice


def test_resume_arguments_per_version(tmp_path, home):
    plan = make_plan(tmp_path, 4, 1, max_train_epochs="3", save_every_n_epochs="1")
    sd = find_sd_scripts(str(FAKE), sys.executable)
    point = ResumePoint(Path("/x/tinyconcept-000002-state"), 8, 2, "run")
    argv = build_argv(plan, sd, point)
    assert argv[-5:] == ["--resume", "/x/tinyconcept-000002-state", "--initial_step", "8", "--skip_until_initial_step"]
    older = dataclasses.replace(sd, version=resolve_version("v0.9.1"))
    assert build_argv(plan, older, point)[-5:] == argv[-5:]
    with pytest.raises(UserError, match=r"v0\.8\.7 cannot continue"):
        build_argv(plan, dataclasses.replace(sd, version=resolve_version("v0.8.7")), point)


def test_gradient_accumulation_skips_whole_epochs_only(tmp_path, home):
    plan = make_plan(tmp_path, 4, 2, max_train_epochs="3", save_every_n_epochs="1", gradient_accumulation_steps="2")
    sd = find_sd_scripts(str(FAKE), sys.executable)
    argv = build_argv(plan, sd, ResumePoint(Path("/x/s"), 4, 1))
    assert argv[-4:] == ["--resume", "/x/s", "--initial_step", "4"]
    outcomes, starts = kill_twice(tmp_path, plan)
    assert outcomes[-1][0].final_step == plan.plan["figures"]["total_steps"] == 12
    assert len(lineage_steps(tmp_path, starts)) == 12


def test_state_found_on_disk_only_gets_its_step_from_its_name(tmp_path, home):
    plan = make_plan(tmp_path, 4, 1, max_train_epochs="3", save_every_n_epochs="1")
    state = Path(plan.arg("output_dir")) / "tinyconcept-000002-state"
    state.mkdir(parents=True)
    point = resume_point(plan)
    assert (point.state, point.step, point.found_by) == (state, 8, "its name")


def test_no_state_and_a_finished_run_say_so(tmp_path, home):
    plan = make_plan(tmp_path, 4, 1, max_train_epochs="3", save_every_n_epochs="1")
    with pytest.raises(UserError, match="no saved state"):
        resume_point(plan)
    train(plan, find_sd_scripts(str(FAKE), sys.executable), env_extra=simulate(tmp_path))
    with pytest.raises(UserError, match="already trained all 12 steps"):
        resume_point(plan)


def test_cli_resume_and_runs_show_one_run(tmp_path, home):
    plan = make_plan(tmp_path, 4, 1, max_train_epochs="3", save_every_n_epochs="1")
    env = {**os.environ, "KOHYAWIZ_HOME": str(home), **simulate(tmp_path, 1)}

    def cli(*args: str, **extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "kohyawiz", *args], capture_output=True, text=True,
                              env={**env, **extra})  # fmt: skip

    fake = ("--sd-scripts", str(FAKE), "--python", sys.executable)
    assert cli("train", str(plan.folder), *fake).returncode == 1
    dry = cli("train", str(plan.folder), *fake, "--resume", "--dry-run")
    assert "--initial_step 4 --skip_until_initial_step" in dry.stdout and "step 4 of 12" in dry.stdout
    done = cli("train", str(plan.folder), *fake, "--resume", KOHYAWIZ_FAKE_KILL_AFTER_STATES="0")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "step 12/12" in done.stderr and "step 8/8" not in done.stderr  # the run's count, not the launch's
    first = sorted((home / "runs").iterdir())[0].name
    shown = cli("runs", "show", first)
    assert (
        "One run over 2 launches" in shown.stdout and "resumed from tinyconcept-000001-state at step 4" in shown.stdout
    )
    assert "steps 12/12" in shown.stdout
    data = json.loads(cli("runs", "show", first, "--json").stdout)
    assert [s["start_step"] for s in data["segments"]] == [0, 4]
    listed = cli("runs").stdout.strip().splitlines()
    assert len(listed) == 1 and f"2 launches, from {first}" in listed[0]  # one run, one line


def test_an_interrupted_queue_entry_resumes(tmp_path, home):
    plan = make_plan(tmp_path, 4, 1, max_train_epochs="3", save_every_n_epochs="1")
    env = {**os.environ, "KOHYAWIZ_HOME": str(home), **simulate(tmp_path, 1)}
    fake = ("--sd-scripts", str(FAKE), "--python", sys.executable)
    run = [sys.executable, "-m", "kohyawiz"]
    assert subprocess.run([*run, "queue", "add", str(plan.folder)], env=env, capture_output=True).returncode == 0
    subprocess.run([*run, "queue", "run", *fake], env=env, capture_output=True, text=True)
    queue_file = home / "queue.json"
    entries = json.loads(queue_file.read_text())
    entries[0]["status"] = "running"  # as a queue killed with its run leaves it
    queue_file.write_text(json.dumps(entries))
    again = subprocess.run([*run, "queue", "run", *fake], env={**env, "KOHYAWIZ_FAKE_KILL_AFTER_STATES": "0"},
                           capture_output=True, text=True)  # fmt: skip
    assert again.returncode == 0, again.stdout + again.stderr
    assert "resuming from" in again.stdout and "step 4 of 12" in again.stdout
    last = sorted((home / "runs").iterdir())[-1]
    assert read_segment(last).resumed_from["step"] == 4 and read_history(last).final_step == 12


def test_step_named_files_continue_the_runs_count_after_an_epoch(tmp_path, home):
    """Resumed past its first epoch, sd-scripts counts from the step within the epoch and would
    write `-step00000002` again for the run's step 6: kohyawiz sets the earlier files aside and
    renames what the launch wrote to the run's step."""
    plan = make_plan(tmp_path, 4, 1, max_train_steps="12")
    assert "save_every_n_steps = 2" in (plan.folder / "config.toml").read_text()
    sd = find_sd_scripts(str(FAKE), sys.executable)
    first, _ = train(plan, sd, env_extra=simulate(tmp_path, 2))  # states at steps 2 and 4, killed at 5
    point = resume_point(plan)
    assert point.step == 4 and first.status == "failed"
    outcome, record = train(plan, sd, resume=point, env_extra=simulate(tmp_path))
    assert outcome.status == "completed" and outcome.final_step == 12
    output = Path(plan.arg("output_dir"))
    names = sorted(p.name for p in output.glob("*-step*.safetensors"))
    assert names == [f"tinyconcept-step{s:08d}.safetensors" for s in (2, 4, 6, 8, 10, 12)]
    assert not (output / ".kohyawiz-earlier").exists()
    assert [(Path(c.path).name, c.step) for c in read_history(record.folder).checkpoints][-3:] == [
        ("tinyconcept-step00000010.safetensors", 10), ("tinyconcept-step00000012.safetensors", 12),
        ("tinyconcept.safetensors", 12),
    ]  # fmt: skip
    states = [(Path(s.path).name, s.step) for s in read_segment(record.folder).states]
    assert (
        states[0] == ("tinyconcept-step00000006-state", 6) and Path(read_segment(record.folder).states[0].path).is_dir()
    )
    assert len(lineage_steps(tmp_path, [0, 4])) == 12


def test_a_run_counted_in_steps_resumed_past_its_first_epoch_is_warned_of_its_overrun(tmp_path, home):
    """sd-scripts stops a run counted in steps when its own counter reaches max_train_steps; after a
    resume past the first epoch that counter trails the run's, so the launch ends with its last
    epoch: the double trains 12 steps for a plan of 10, and kohyawiz says so before it starts."""
    from kohyawiz.cli.train_cmd import resume_line
    from kohyawiz.run.train import resume_overrun

    plan = make_plan(tmp_path, 4, 1, max_train_steps="10")
    sd = find_sd_scripts(str(FAKE), sys.executable)
    train(plan, sd, env_extra=simulate(tmp_path, 5))  # a state every step; killed after the fifth
    point = resume_point(plan)
    assert point.step == 5 and resume_overrun(plan, point) == 2
    assert "train 2 steps past the plan's 10" in resume_line(plan, point)
    outcome, _ = train(plan, sd, resume=point, env_extra=simulate(tmp_path))
    assert outcome.final_step == 12 and len(lineage_steps(tmp_path, [0, 5])) == 12
    assert resume_overrun(plan, ResumePoint(Path("/x"), 2)) == 0  # still in the first epoch: no lag


def test_a_fresh_start_makes_the_older_runs_states_stale(tmp_path, home):
    plan = make_plan(tmp_path, 4, 1, max_train_epochs="3", save_every_n_epochs="1")
    sd = find_sd_scripts(str(FAKE), sys.executable)
    train(plan, sd, env_extra=simulate(tmp_path, 2))  # states at 4 and 8
    assert resume_point(plan).step == 8
    train(plan, sd, env_extra=simulate(tmp_path, 1))  # trained again from the start: a state at 4
    assert resume_point(plan).step == 4


def test_files_set_aside_by_a_stopped_kohyawiz_come_back(tmp_path):
    from kohyawiz.run.renumber import STASH, SUPERSEDED, recover

    output = tmp_path / "out"
    (output / STASH).mkdir(parents=True)
    (output / STASH / "x-step00000004.safetensors").write_text("the run's step 4")
    (output / "x-step00000004.safetensors").write_text("sd-scripts' step 4 of a resumed launch")
    recover(output)
    assert (output / "x-step00000004.safetensors").read_text() == "the run's step 4"
    assert (output / SUPERSEDED / "x-step00000004.safetensors").is_file() and not (output / STASH).exists()


def test_a_state_cut_off_while_saving_is_not_resumed_from(tmp_path, home):
    plan = make_plan(tmp_path, 4, 1, max_train_epochs="3", save_every_n_epochs="1")
    sd = find_sd_scripts(str(FAKE), sys.executable)
    train(plan, sd, env_extra={**simulate(tmp_path), "KOHYAWIZ_FAKE_KILL_IN_STATE": "2"})
    segment = read_segment(sorted((home / "runs").iterdir())[-1])
    assert [(s.step, s.complete) for s in segment.states] == [(4, True), (8, False)]
    assert resume_point(plan).step == 4


def test_a_first_state_cut_off_is_not_found_on_disk_either(tmp_path, home):
    plan = make_plan(tmp_path, 4, 1, max_train_epochs="3", save_every_n_epochs="1")
    train(
        plan,
        find_sd_scripts(str(FAKE), sys.executable),
        env_extra={**simulate(tmp_path), "KOHYAWIZ_FAKE_KILL_IN_STATE": "1"},
    )
    assert (Path(plan.arg("output_dir")) / "tinyconcept-000001-state").is_dir()  # the folder is there, half written
    with pytest.raises(UserError, match="cut off while being written"):
        resume_point(plan)
