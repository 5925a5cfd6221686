"""Run and watch: real log lines become events, and the real subprocess path runs a test double of
sd-scripts (tests/fake_sd) through a stand-in accelerate launcher."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import make_folder

from kohyawiz.assemble import PlanRequest, plan_from_request
from kohyawiz.emit import write_plan
from kohyawiz.run import logparse
from kohyawiz.run.process import StopRequest
from kohyawiz.run.sdscripts.locate import find_sd_scripts, read_commit
from kohyawiz.run.train import PlanFolder, build_argv, preflight, train

FAKE = Path(__file__).resolve().parent / "fake_sd"
DATA = Path(__file__).resolve().parent / "data"
LOGS = Path(__file__).resolve().parent / "data" / "sd-scripts-logs"


def parse(text: str) -> list:
    parser = logparse.LogParser()
    return parser.feed(text) + parser.close()


@pytest.fixture
def logs():
    if not LOGS.is_dir():
        pytest.skip("the shared sd-scripts logs are not beside this checkout")
    return LOGS


def test_summary_epochs_steps_and_saves_from_a_real_log(logs):
    events = parse((logs / "lora-console-log-simple.log").read_text())
    summary = next(e for e in events if isinstance(e, logparse.Summary))
    assert summary == logparse.Summary(4, 0, 4, 2, 1, 1, 8)
    assert [e.epoch for e in events if isinstance(e, logparse.EpochStarted)] == [1, 2]
    steps = [e for e in events if isinstance(e, logparse.Progress)]
    assert steps[-1].step == 8 and steps[-1].total == 8 and steps[-1].loss == 2.39
    assert steps[-1].rate == pytest.approx(1 / 1.39, rel=0.01)
    saves = [e.path for e in events if isinstance(e, logparse.CheckpointSaved)]
    assert saves[-1].endswith("simplelog.safetensors") and any(isinstance(e, logparse.ModelSaved) for e in events)


@pytest.mark.parametrize(
    ("name", "loss"), [("anima-lora-cpu.log", 2.35), ("flux-lora-cpu.log", 1.61), ("sd3-lora-cpu.log", 1.44)]
)
def test_dit_trainers_logs_parse(logs, name, loss):
    """anima_, flux_ and sd3_train_network.py's own output (bench/e2e_cpu.py --family): their loaders' bars
    are not steps, and a UserWarning that Python prints onto the unfinished tqdm line (Anima's)
    neither hides the step nor counts as fatal."""
    events = parse((logs / name).read_text())
    assert next(e for e in events if isinstance(e, logparse.Summary)).total_steps == 2
    steps = [e for e in events if isinstance(e, logparse.Progress)]
    assert {e.total for e in steps} == {2} and steps[-1].step == 2 and steps[-1].loss == loss
    assert [e.epoch for e in events if isinstance(e, logparse.EpochStarted)] == [1]
    saves = [e.path for e in events if isinstance(e, logparse.CheckpointSaved)]
    assert saves == [f"/home/user/plan/output/tinyconcept{s}.safetensors" for s in ("-step00000001", "-step00000002", "")]
    assert not [e for e in events if isinstance(e, logparse.Fatal)]


def test_rich_formatted_log_parses_too(logs):
    events = parse((logs / "lora-prodigy-sd1.log").read_text())
    assert next(e for e in events if isinstance(e, logparse.Summary)).total_steps == 40
    assert [e for e in events if isinstance(e, logparse.Progress)][-1].loss == 3.69


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("fatal-no-data-found.log", "no_data"),
        ("fatal-dataset-config-extra-key.log", "dataset_config"),
        ("fatal-argparse-bad-flag.log", "argparse"),
        ("fatal-missing-model.log", "missing_model"),
        ("fatal-missing-config.log", "missing_config"),
        ("locon-preset-full-lycoris-4.1.3-crash.log", "lycoris_preset"),
    ],
)
def test_fatal_logs_map_to_advice(logs, name, kind):
    fatal = [e for e in parse((logs / name).read_text()) if isinstance(e, logparse.Fatal)]
    assert fatal and fatal[0].kind == kind and fatal[0].advice


def test_oom_log_gives_the_memory_advice():
    fatal = [e for e in parse((DATA / "oom.log").read_text()) if isinstance(e, logparse.Fatal)]
    assert fatal[0].kind == "oom" and "cache latents to disk" in fatal[0].advice


def test_parser_never_raises_on_garbage_and_partial_lines():
    parser = logparse.LogParser()
    chunks = [
        "steps:  12%|█▎  | 1/8 [00:01<00:10,  1.5",
        "1s/it, avr_loss=nan]\r",
        "\x00\xff garbage\n",
        "epoch 3/",
        "x\n",
    ]
    events = [e for chunk in chunks for e in parser.feed(chunk)] + parser.close()
    progress = [e for e in events if isinstance(e, logparse.Progress)]
    assert progress and progress[0].step == 1
    assert any(isinstance(e, logparse.Fatal) and e.kind == "nan_loss" for e in events)
    for junk in ["", "|||", "100%|", "running training", "  num epochs / x: y", "steps: 5%| | a/b [x<y]"]:
        parser.line(junk)


def test_every_real_log_parses_without_a_parser_error(logs):
    real = [*sorted(logs.glob("*.log")), DATA / "oom.log"]
    assert len(real) >= 10
    for path in real:
        parser = logparse.LogParser()
        events = parser.feed(path.read_text(encoding="utf-8", errors="replace")) + parser.close()
        assert events, path.name
        assert (path.name, parser.errors, parser.first_error) == (path.name, 0, None)


def test_a_line_the_parser_fails_on_is_counted_into_the_run_record(plan_dir, logs, monkeypatch):
    real_classify = logparse.LogParser._classify

    def fails_on_epochs(self, text):
        if re.fullmatch(r"epoch \d+/\d+", text):
            raise IndexError("a shape the parser did not expect")
        return real_classify(self, text)

    monkeypatch.setattr(logparse.LogParser, "_classify", fails_on_epochs)
    sd = find_sd_scripts(str(FAKE), sys.executable)
    outcome, record = train(PlanFolder.load(plan_dir), sd, env_extra=fake_env(logs / "lora-console-log-simple.log"))
    assert outcome.status == "completed" and outcome.parse_errors == 2
    assert outcome.parse_error == "IndexError: a shape the parser did not expect on 'epoch 1/2'"
    kept = json.loads((record.folder / "outcome.json").read_text())
    assert (kept["parse_errors"], kept["parse_error"]) == (2, outcome.parse_error)


@pytest.fixture
def plan_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("KOHYAWIZ_HOME", str(tmp_path / "home"))
    data = tmp_path / "train"
    make_folder(data, "1_tinyconcept", [(768, 768)] * 20, "tinyconcept, solo")
    model = tmp_path / "model.safetensors"
    model.write_bytes(b"x")
    request = PlanRequest(
        out_dir=tmp_path / "plan",
        preset="character-sd15",
        answers={"vram_gb": 12, "model": {"path": str(model)}, "save_state": True},
        dataset=data,
    )
    plan, _ = plan_from_request(request)
    write_plan(plan)
    return tmp_path / "plan"


def fake_env(log: Path, **extra: str) -> dict[str, str]:
    return {"KOHYAWIZ_FAKE_LOG": str(log), "KOHYAWIZ_FAKE_DELAY": "0", **extra}


def test_locate_reads_version_and_warns_for_unknown(tmp_path):
    sd = find_sd_scripts(str(FAKE), sys.executable)
    assert sd.version.id == "main-48d368fa" and not sd.exact and "nearest" in (sd.warning() or "")
    git = tmp_path / "sd" / ".git"
    (git / "refs" / "heads").mkdir(parents=True)
    (git / "HEAD").write_text("ref: refs/heads/main\n")
    (git / "packed-refs").write_text("# pack-refs\n8f4ee8fc0000000000000000000000000000dead refs/heads/main\n")
    assert read_commit(tmp_path / "sd").startswith("8f4ee8fc")


def test_train_through_the_real_subprocess_path(plan_dir, logs):
    plan = PlanFolder.load(plan_dir)
    sd = find_sd_scripts(str(FAKE), sys.executable)
    assert preflight(plan, sd).errors == []
    argv = build_argv(plan, sd)
    assert argv[1:3] == ["-m", "accelerate.commands.launch"] and "--console_log_simple" in argv
    assert argv[argv.index("--config_file") + 1] == str(plan_dir / "config.toml")
    outcome, record = train(plan, sd, env_extra=fake_env(logs / "lora-console-log-simple.log"))
    assert outcome.status == "completed" and outcome.returncode == 0
    assert (outcome.final_step, outcome.total_steps, outcome.epochs, outcome.final_loss) == (8, 8, 2, 2.39)
    assert outcome.parse_errors == 0
    assert len(outcome.outputs) == 2 and all(o["mismatches"] == [] for o in outcome.outputs)
    assert outcome.outputs[-1]["metadata"]["ss_network_dim"] == "32"
    events = [json.loads(line) for line in (record.folder / "events.jsonl").read_text().splitlines()]
    assert [e["event"] for e in events][-2:] == ["CheckpointSaved", "ModelSaved"]  # the final redraw adds no step
    assert json.loads((record.folder / "outcome.json").read_text())["status"] == "completed"
    assert (record.folder / "train.log").read_text().count("epoch ") >= 2
    recorded = json.loads((record.folder / "argv.json").read_text())
    assert recorded[: len(argv) - 1] == argv[:-1]  # the launch, then the run record's TensorBoard folder
    assert recorded[recorded.index("--logging_dir") + 1] == str(record.folder / "tensorboard")


def test_a_saved_lora_whose_metadata_differs_from_the_launched_config_is_reported(plan_dir, logs):
    plan = PlanFolder.load(plan_dir)
    sd = find_sd_scripts(str(FAKE), sys.executable)
    wrong = fake_env(logs / "lora-console-log-simple.log", KOHYAWIZ_FAKE_METADATA="ss_network_dim=8,ss_network_alpha=3")
    outcome, record = train(plan, sd, env_extra=wrong)
    assert outcome.status == "completed" and len(outcome.outputs) == 2
    for output in outcome.outputs:
        assert output["mismatches"] == [
            "ss_network_dim is 8, the launched config.toml asked for 32",
            f"ss_network_alpha is 3, the launched config.toml asked for {plan.arg('network_alpha')}",
        ]
    kept = json.loads((record.folder / "outcome.json").read_text())
    assert kept["outputs"][0]["mismatches"] == outcome.outputs[0]["mismatches"]


def test_no_data_exits_zero_but_is_a_failure(plan_dir, logs):
    outcome, _ = train(
        PlanFolder.load(plan_dir),
        find_sd_scripts(str(FAKE), sys.executable),
        env_extra=fake_env(logs / "fatal-no-data-found.log"),
    )
    assert outcome.returncode == 0 and outcome.status == "failed" and outcome.fatal[0]["kind"] == "no_data"


def test_replayed_oom_gives_advice(plan_dir):
    outcome, _ = train(
        PlanFolder.load(plan_dir), find_sd_scripts(str(FAKE), sys.executable), env_extra=fake_env(DATA / "oom.log")
    )
    assert (
        outcome.status == "failed"
        and outcome.fatal[0]["kind"] == "oom"
        and "gradient checkpointing" in outcome.fatal[0]["advice"]
    )


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.parametrize("stubborn", [False, True])
def test_stop_leaves_no_process_behind(plan_dir, logs, tmp_path, stubborn):
    pidfile = tmp_path / "pid"
    stop = StopRequest()
    import threading

    def press_stop():
        while not pidfile.exists():
            time.sleep(0.05)
        time.sleep(0.5)
        stop.request()

    threading.Thread(target=press_stop, daemon=True).start()
    env = fake_env(logs / "lora-prodigy-sd1.log", KOHYAWIZ_FAKE_DELAY="0.05", KOHYAWIZ_FAKE_PIDFILE=str(pidfile))
    if stubborn:
        env["KOHYAWIZ_FAKE_IGNORE_INT"] = "1"
    from kohyawiz.run import process

    saved = process.GRACE_S
    process.GRACE_S = 0.5
    try:
        outcome, record = train(
            PlanFolder.load(plan_dir), find_sd_scripts(str(FAKE), sys.executable), stop=stop, env_extra=env
        )
    finally:
        process.GRACE_S = saved
    assert outcome.status == "interrupted"
    assert json.loads((record.folder / "outcome.json").read_text())["status"] == "interrupted"
    assert not _alive(int(pidfile.read_text()))


def test_ctrl_c_on_the_cli_stops_the_run(plan_dir, logs, tmp_path):
    pidfile = tmp_path / "pid"
    env = {
        **os.environ,
        **fake_env(logs / "lora-prodigy-sd1.log", KOHYAWIZ_FAKE_DELAY="0.05", KOHYAWIZ_FAKE_PIDFILE=str(pidfile)),
    }
    cli = subprocess.Popen(
        [sys.executable, "-m", "kohyawiz", "train", str(plan_dir), "--sd-scripts", str(FAKE), "--python", sys.executable, "--plain"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
    )  # fmt: skip
    deadline = time.time() + 30
    while not pidfile.exists() and time.time() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)
    cli.send_signal(signal.SIGINT)
    out, _ = cli.communicate(timeout=60)
    assert cli.returncode == 1 and "interrupted" in out
    assert not _alive(int(pidfile.read_text()))


def test_dry_run_prints_the_command(plan_dir):
    run = subprocess.run(
        [sys.executable, "-m", "kohyawiz", "train", str(plan_dir), "--sd-scripts", str(FAKE), "--python", sys.executable, "--dry-run"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert run.returncode == 0 and "accelerate.commands.launch" in run.stdout and "--dataset_config" in run.stdout


def test_preflight_finds_missing_model_and_images(plan_dir, tmp_path):
    plan = PlanFolder.load(plan_dir)
    Path(plan.arg("pretrained_model_name_or_path")).unlink()
    for image in (tmp_path / "train" / "1_tinyconcept").glob("*.png"):
        image.unlink()
    errors = preflight(plan, find_sd_scripts(str(FAKE), sys.executable)).errors
    assert any("base model" in e for e in errors) and any("No data found" in e for e in errors)


def test_resume_uses_the_newest_state_with_its_step(plan_dir):
    plan = PlanFolder.load(plan_dir)
    for name in ("tinyconcept-000001-state", "tinyconcept-000002-state"):
        (Path(plan.arg("output_dir")) / name).mkdir(parents=True, exist_ok=True)
    from kohyawiz.run.train import resume_point

    point = resume_point(plan)
    argv = build_argv(plan, find_sd_scripts(str(FAKE), sys.executable), point)
    step = 2 * plan.plan["figures"]["steps_per_epoch"]
    assert argv[-5:] == ["--resume", str(point.state), "--initial_step", str(step), "--skip_until_initial_step"]
    assert point.state.name == "tinyconcept-000002-state"


def test_queue_runs_in_order_and_survives_failures(plan_dir, logs, tmp_path, monkeypatch):
    env = {**os.environ, "KOHYAWIZ_HOME": os.environ["KOHYAWIZ_HOME"], **fake_env(logs / "lora-console-log-simple.log")}

    def cli(*args):
        return subprocess.run([sys.executable, "-m", "kohyawiz", *args], capture_output=True, text=True, env=env)

    assert cli("queue", "add", str(plan_dir)).returncode == 0
    assert cli("queue", "add", str(tmp_path / "nope")).returncode == 2
    assert cli("queue", "add", str(plan_dir)).returncode == 0
    ran = cli("queue", "run", "--sd-scripts", str(FAKE), "--python", sys.executable)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    listed = cli("queue", "list").stdout
    assert listed.count("completed") == 2
    runs = cli("runs").stdout
    assert runs.count("completed") == 2
    run_id = runs.split()[0]
    shown = cli("runs", "show", run_id)
    assert shown.returncode == 0 and "Loss plot" in shown.stdout


def test_preflight_asks_sd_scripts_own_parser(plan_dir, tmp_path):
    """The probe runs in sd-scripts' interpreter; a checkout without setup_parser() cannot be asked
    and preflight says so, and a probe that cannot even start is an error, not a silent pass."""
    from kohyawiz.run.train import parser_check, parser_problems

    plan = PlanFolder.load(plan_dir)
    fake = find_sd_scripts(str(FAKE), sys.executable)
    assert parser_check(plan, fake).not_asked == "this sd-scripts has no setup_parser()"
    warnings = [w for w in preflight(plan, fake).warnings if "own parser" in w]
    assert warnings == [
        "sd-scripts' own parser could not be asked (this sd-scripts has no setup_parser()): the plan is checked "
        "against kohyawiz's facts for this version only"
    ]
    broken = tmp_path / "broken_python"
    broken.write_text("#!/bin/sh\necho 'ModuleNotFoundError: No module named toml' >&2\nexit 1\n")
    broken.chmod(0o755)
    problems = parser_problems(plan, find_sd_scripts(str(FAKE), str(broken)))
    assert problems and "could not be loaded" in problems[0]


def test_a_copied_plan_trains_from_the_copy_with_its_edits(plan_dir, logs, tmp_path, capsys):
    copy = tmp_path / "copied-plan"
    shutil.copytree(plan_dir, copy)
    config = copy / "config.toml"
    config.write_text(config.read_text().replace("network_dim = 32", "network_dim = 16"))
    moved = PlanFolder.load(copy)
    assert moved.moved_from == plan_dir.resolve()
    sd = find_sd_scripts(str(FAKE), sys.executable)
    assert any("was written in" in w for w in preflight(moved, sd).warnings)
    argv = build_argv(moved, sd)
    assert argv[argv.index("--config_file") + 1] == str(copy / "config.toml")
    from kohyawiz.cli import main

    assert main(["train", str(copy), "--dry-run", "--sd-scripts", str(FAKE), "--python", sys.executable]) == 0
    said = capsys.readouterr().out  # the dry run shows the copy's config.toml, which still names the original
    assert f"written in {plan_dir.resolve()}: training first re-points the plan's own paths at {copy}" in said
    assert str(plan_dir) in (copy / "config.toml").read_text()  # a dry run changes nothing
    outcome, _ = train(moved, sd, env_extra=fake_env(logs / "lora-console-log-simple.log"))
    assert outcome.status == "completed"
    assert all(str(copy / "output") in o["path"] for o in outcome.outputs)
    assert outcome.outputs[-1]["metadata"]["ss_network_dim"] == "16"  # the copy's edit took effect
    assert [o["mismatches"] for o in outcome.outputs] == [[], []]  # checked against the config that ran
    assert str(plan_dir) not in (copy / "config.toml").read_text()
    assert PlanFolder.load(copy).moved_from is None
    assert "network_dim = 32" in (plan_dir / "config.toml").read_text()  # the original is untouched


def test_a_moved_plan_names_the_paths_that_no_longer_exist(plan_dir, tmp_path):
    moved = tmp_path / "elsewhere"
    shutil.move(str(plan_dir), moved)
    shutil.rmtree(tmp_path / "train")
    errors = preflight(PlanFolder.load(moved), find_sd_scripts(str(FAKE), sys.executable)).errors
    assert any("moved from" in e and "image folder" in e for e in errors)


SD_HEADERS: dict[str, tuple[str, dict[str, list[int]]]] = {
    "sd1": ("v1-5-pruned-emaonly.safetensors", {"model.diffusion_model.input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight": [320, 768]}),
    "sd2": ("v2-1_768-ema-pruned.safetensors", {"model.diffusion_model.input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight": [320, 1024]}),
    "sdxl": ("sd_xl_base_1.0.safetensors", {"model.diffusion_model.input_blocks.4.1.transformer_blocks.0.attn2.to_k.weight": [640, 2048],
                                            "conditioner.embedders.1.model.ln_final.weight": [1280]}),
}  # fmt: skip
DIT_NAMES = {
    "flux": "flux1-dev.safetensors", "chroma": "chroma-unlocked-v38.safetensors", "sd3": "sd3.5_medium.safetensors",
    "lumina": "lumina_2_model_bf16.safetensors", "anima": "anima-preview.safetensors",
    "hunyuan-image": "hunyuanimage2.1.safetensors",
}  # fmt: skip


def header_only_model(root: Path, family: str) -> Path:
    """A checkpoint as a user names it, header only, with the companion files beside it."""
    from test_families import COMPANION_FILES, HEADERS, header_file

    from kohyawiz.families import family_spec

    if family in SD_HEADERS:
        name, keys = SD_HEADERS[family]
        return header_file(root / name, keys)
    model = header_file(root / DIT_NAMES[family], HEADERS[family])
    for companion in family_spec(family).companions:
        header_file(root / COMPANION_FILES[companion.arg], {"w": [4, 4]})
    return model


@pytest.mark.parametrize("family", ["sd1", "sd2", "sdxl", *DIT_NAMES])
def test_every_planned_trainer_launches_with_the_plans_files(tmp_path, monkeypatch, capsys, family):
    """`train --dry-run` launches the family's own trainer (from the families, one source) with the
    plan's config and dataset files; the header alone decides the family."""
    from kohyawiz.cli import main
    from kohyawiz.families import family_spec

    monkeypatch.setenv("KOHYAWIZ_HOME", str(tmp_path / "home"))
    model = header_only_model(tmp_path / "models", family)
    out = tmp_path / "plan"
    plan_args = ["plan", "--model", str(model), "--subject", "concept", "--concept", "x=20", "--vram", "24"]
    assert main([*plan_args, "--out", str(out), "--force"]) == 0
    capsys.readouterr()
    assert main(["train", str(out), "--dry-run", "--sd-scripts", str(FAKE), "--python", sys.executable]) == 0
    command = capsys.readouterr().out.splitlines()[0].split()
    script = family_spec(family).script
    assert command[1:3] == ["-m", "accelerate.commands.launch"]
    at = command.index(str(FAKE.resolve() / script))
    assert command[at + 1 :] == [
        "--config_file", str(out / "config.toml"), "--dataset_config", str(out / "dataset.toml"), "--console_log_simple",
    ]  # fmt: skip
    assert json.loads((out / "plan.json").read_text())["answers"]["model"]["family"] == family


def test_queue_add_refuses_what_queue_run_would(plan_dir, monkeypatch):
    """A plan naming a script no family trains, or another family's trainer, is refused by `queue add`
    with the line `train` and `queue run` give."""
    from kohyawiz.errors import UserError
    from kohyawiz.run import queue

    plan_json = plan_dir / "plan.json"
    original = json.loads(plan_json.read_text())
    for script, says in (("my_train.py", "not a trainer kohyawiz knows"), ("flux_train_network.py", "whose trainer is train_network.py")):
        plan_json.write_text(json.dumps({**original, "script": script}))
        with pytest.raises(UserError, match=says):
            PlanFolder.load(plan_dir)
        with pytest.raises(UserError, match=says):
            queue.add(plan_dir)
    assert queue.load_queue() == []
    plan_json.write_text(json.dumps(original))
    assert queue.add(plan_dir).plan_dir == str(plan_dir.resolve())


def test_a_random_model_kohyawiz_cannot_build_is_one_line(tmp_path):
    """The builder runs in sd-scripts' Python and answers in one JSON line; a family it has no
    builder for comes back as a UserError naming the families it builds, before torch is imported."""
    from kohyawiz.errors import UserError
    from kohyawiz.run.random_model import build_random_model

    with pytest.raises(UserError, match=r"no random lumina model: kohyawiz builds anima, flux, sd3"):
        build_random_model(find_sd_scripts(str(FAKE), sys.executable), "lumina", tmp_path / "models")
    assert not (tmp_path / "models").exists()


@pytest.mark.parametrize(("returncode", "name", "status"), [
    (0, "tinyconcept_lora", "completed"),  # the stop came after the last step and the final save
    (130, "tinyconcept_lora", "interrupted"),  # sd-scripts was stopped on its way out
    (0, "another_name", "interrupted"),  # the run's own final file was never saved
])  # fmt: skip
def test_a_stop_pressed_after_the_final_save_keeps_the_run_completed(logs, returncode, name, status):
    from kohyawiz.run.records.record import RunRecord
    from kohyawiz.run.train import Watcher, conclude

    watcher = Watcher(RunRecord.create("stop-late", {}, ["train"]))
    watcher.text((logs / "lora-prodigy-sd1.log").read_text(encoding="utf-8"))
    outcome = conclude(watcher, returncode, 1.0, True, {"output_name": name})
    assert outcome.final_step == outcome.total_steps and outcome.status == status
