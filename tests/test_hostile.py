"""Safe with what strangers hand you: hostile and careless files through every door. Each outcome
is success or one line of error, quickly, with nothing written outside the output folder."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import make_folder, plan_for
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kohyawiz.door import read_json, read_text, read_toml
from kohyawiz.errors import UserError

DATA = Path(__file__).resolve().parent / "data" / "kohya"


def kohyawiz(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kohyawiz", *args], capture_output=True, text=True, timeout=timeout)


def one_line(run: subprocess.CompletedProcess[str]) -> None:
    assert run.returncode == 2, run.stdout + run.stderr
    assert len(run.stderr.strip().splitlines()) == 1 and "Traceback" not in run.stderr, run.stderr


def test_the_door_refuses_devices_pipes_folders_and_huge_files(tmp_path):
    start = time.monotonic()
    with pytest.raises(UserError, match="not a regular file"):
        read_text("/dev/zero", "preset")
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(UserError, match="not a regular file"):
        read_text(fifo, "preset")  # would block forever if opened for reading normally
    with pytest.raises(UserError, match="folder"):
        read_text(tmp_path, "preset")
    big = tmp_path / "big.json"
    big.write_bytes(b" " * (5 * 1024 * 1024))
    with pytest.raises(UserError, match="too large"):
        read_json(big, "GUI config")
    latin = tmp_path / "latin.toml"
    latin.write_bytes(b"a = '\xe9'\n")
    with pytest.raises(UserError, match="UTF-8"):
        read_toml(latin, "preset")
    assert time.monotonic() - start < 5


@pytest.mark.parametrize("text,reader", [("[" * 100000 + "]" * 100000, read_json), ("a = " + "[" * 5000 + "]" * 5000, read_toml),
                                         ('{"a":' * 3000 + "1" + "}" * 3000, read_json)])  # fmt: skip
def test_deep_nesting_is_one_line(tmp_path, text, reader):
    path = tmp_path / "deep"
    path.write_text(text)
    with pytest.raises(UserError, match="nests deeper"):
        reader(path, "config")


def test_import_with_a_dataset_config_that_is_a_device(tmp_path):
    config = tmp_path / "config.toml"
    config.write_text('network_module = "networks.lora"\nnetwork_dim = 8\ndataset_config = "/dev/zero"\n')
    run = kohyawiz("import", str(config), "--out", str(tmp_path / "p.toml"), timeout=20)
    one_line(run)
    assert "not a regular file" in run.stderr


def test_shared_presets_carry_no_credentials_uploads_or_paths_out(tmp_path):
    from kohyawiz.presets import load_preset

    for overrides in ('huggingface_token = "hf_x"', 'wandb_api_key = "k"', 'log_with = "all"', 'async_upload = true',
                      'output_name = "../../x"', 'network_args = ["preset=/etc/passwd"]',
                      'base_weights = ["../../../w.safetensors"]'):  # fmt: skip
        preset = tmp_path / "shared.toml"
        preset.write_text(f'schema_version = 1\n[answers]\nsubject = "style"\n[overrides]\n{overrides}\n')
        with pytest.raises(UserError):
            load_preset(str(preset))


def test_output_name_stays_a_file_name_from_any_source(tmp_path):
    for bad in ("../../x", "a/b", ".."):
        with pytest.raises(UserError, match="plain file name"):
            plan_for(tmp_path, overrides={"output_name": bad})
    assert plan_for(tmp_path, name="../evil").value("output_name") == "evil"


def test_plan_out_never_replaces_what_kohyawiz_did_not_write(tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "config.toml").write_text("# my own config\n")
    base = ["plan", "--family", "sd1", "--subject", "character", "--vram", "12", "--concept", "a=30"]
    one_line(kohyawiz(*base, "--out", str(out)))
    assert (out / "config.toml").read_text() == "# my own config\n"
    assert kohyawiz(*base, "--out", str(out), "--force").returncode == 0
    old = os.umask(0o022)
    os.umask(old)
    mode = stat.S_IMODE((out / "config.toml").stat().st_mode)
    assert mode == 0o666 & ~old  # normal permissions, not owner-only
    assert kohyawiz(*base, "--samples", "--out", str(out)).returncode == 0
    assert (out / "sample_prompts.txt").is_file()
    assert kohyawiz(*base, "--out", str(out)).returncode == 0
    assert not (out / "sample_prompts.txt").exists()  # a stale file of the earlier plan is gone
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]
    file_out = tmp_path / "a-file"
    file_out.write_text("x")
    one_line(kohyawiz(*base, "--out", str(file_out)))
    one_line(kohyawiz(*base, "--out", str(file_out / "under-a-file")))
    assert kohyawiz(*base, "--out", str(tmp_path / "new" / "parents")).returncode == 0


def test_prepare_never_maps_two_images_to_one_and_never_follows_links(tmp_path):
    from PIL import Image

    from kohyawiz.dataset.prepare import prepare

    raw = tmp_path / "raw"
    raw.mkdir()
    for ext, fmt in (("png", "PNG"), ("gif", "GIF"), ("tif", "TIFF")):
        Image.new("RGB", (64, 64), (10, 20, 30)).save(raw / f"dup.{ext}", fmt)
    (raw / "dup.txt").write_text("dup, tag")
    into = tmp_path / "train" / "1_dup"
    into.mkdir(parents=True)
    victim = tmp_path / "victim.png"
    victim.write_bytes(b"keep me")
    (into / "dup.png").symlink_to(victim)
    report = prepare(raw, into)
    targets = sorted(p.target.name for p in report if p.target)
    assert len(targets) == 3 and len(set(targets)) == 3
    # the person's own link is theirs: neither written through nor replaced (review 2)
    assert victim.read_bytes() == b"keep me" and (into / "dup.png").is_symlink() and "dup.png" not in targets
    captions = sorted(p.name for p in into.glob("*.txt"))
    assert len(captions) == 3  # each image keeps its caption
    with pytest.raises(UserError, match="outside the raw folder"):
        prepare(raw, raw / "inside")


def test_train_launches_only_known_trainers_with_kohyawiz_options(tmp_path):
    base = ["plan", "--family", "sd1", "--subject", "character", "--vram", "12", "--concept", "a=30"]
    out = tmp_path / "p"
    assert kohyawiz(*base, "--out", str(out)).returncode == 0
    plan = json.loads((out / "plan.json").read_text())
    for field, value in (("script", "../../../tmp/evil.py"), ("accelerate_args", ["--config_file", "/tmp/evil.yaml"])):
        damaged = dict(plan, **{field: value})
        (out / "plan.json").write_text(json.dumps(damaged, indent=2))
        run = kohyawiz("train", str(out), "--dry-run")
        one_line(run)
    (out / "plan.json").write_text("{ not json")
    one_line(kohyawiz("train", str(out), "--dry-run"))


def test_damaged_records_and_queue_are_one_line(tmp_path):
    env_home = tmp_path / "home"
    (env_home / "runs" / "20260101-000000-x").mkdir(parents=True)
    (env_home / "runs" / "20260101-000000-x" / "outcome.json").write_text("[[[")
    (env_home / "runs" / "20260101-000000-x" / "events.jsonl").write_text('{"event": "Progress", "step": "x"}\nnot json\n')
    (env_home / "queue.json").write_text('[{"nope": 1}]')
    env = {**os.environ, "KOHYAWIZ_HOME": str(env_home)}
    runs = subprocess.run([sys.executable, "-m", "kohyawiz", "runs"], capture_output=True, text=True, env=env)
    assert runs.returncode == 0 and "None" not in runs.stdout and "Traceback" not in runs.stderr
    shown = subprocess.run([sys.executable, "-m", "kohyawiz", "runs", "show", "x"], capture_output=True, text=True, env=env)
    assert shown.returncode == 0 and "Traceback" not in shown.stderr
    queue = subprocess.run([sys.executable, "-m", "kohyawiz", "queue", "list"], capture_output=True, text=True, env=env)
    assert queue.returncode == 2 and "Traceback" not in queue.stderr


def test_numbers_beyond_toml_and_counts_beyond_reason(tmp_path):
    with pytest.raises(UserError, match="TOML integer"):
        plan_for(tmp_path, overrides={"max_train_steps": 2**70})
    start = time.monotonic()
    run = kohyawiz("plan", "--family", "sd1", "--subject", "character", "--vram", "12", "--concept", "a=100000000",
                   "--out", str(tmp_path / "big"))  # fmt: skip
    one_line(run)
    assert time.monotonic() - start < 10


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=True) | st.text(max_size=30),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=20,
)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(base=st.sampled_from(sorted(p.name for p in DATA.glob("*.json"))), changes=st.dictionaries(
    st.sampled_from(["LoRA_type", "network_dim", "optimizer", "learning_rate", "max_resolution", "epoch",
                     "additional_parameters", "output_name", "network_alpha", "train_batch_size", "caption_extension",
                     "huggingface_token", "log_with", "dataset_config", "sdxl", "v2", "lr_scheduler", "bogus"]),
    JSON_VALUES, max_size=5))  # fmt: skip
def test_fuzz_mutated_real_kohya_configs_import_or_fail_in_one_line(tmp_path_factory, base, changes):
    from kohyawiz.interop.kohya import import_settings, read_config

    tmp = tmp_path_factory.mktemp("fuzz")
    data = json.loads((DATA / base).read_text())
    data.update(changes)
    path = tmp / "config.json"
    try:
        path.write_text(json.dumps(data))
    except ValueError:
        return
    start = time.monotonic()
    try:
        flat, dataset = read_config(path)
        result = import_settings(flat, str(path), dataset)
    except UserError as exc:
        assert "\n" not in str(exc).strip()
        return
    finally:
        assert time.monotonic() - start < 5
    overrides = result.overrides
    assert "huggingface_token" not in overrides and overrides.get("log_with") in (None, "tensorboard")


def test_hostile_safetensors_headers_are_one_line(tmp_path):
    import struct

    from kohyawiz.models import inspect_model

    for header in (b"[" * 200000, b'{"__metadata__": [1, 2]}', b"\xff\xfe", b'{"a": {"dtype": "F16"}}'):
        path = tmp_path / "m.safetensors"
        path.write_bytes(struct.pack("<Q", len(header)) + header)
        try:
            inspect_model(str(path))
        except UserError as exc:
            assert "\n" not in str(exc)
    make_folder(tmp_path, "x", [(64, 64)])


def test_a_looping_link_does_not_hide_a_concept(tmp_path):
    from kohyawiz.dataset.doctor import CheckOptions, check_dataset
    from kohyawiz.dataset.scan import scan_training_dir

    folder = make_folder(tmp_path / "train", "10_a", [(512, 512)] * 3, "a, b")
    (folder / "loop1.png").symlink_to(folder / "loop2.png")
    (folder / "loop2.png").symlink_to(folder / "loop1.png")
    scan = scan_training_dir(tmp_path / "train", (".png",))
    assert len(scan.concepts[0].images) == 3
    findings = check_dataset(scan, CheckOptions())
    assert any("loops" in f.message and f.level == "error" for f in findings)


def test_inspect_refuses_folders_that_are_not_models():
    from kohyawiz.models import inspect_model

    with pytest.raises(UserError, match="not a diffusers model"):
        inspect_model("/")


def test_a_queue_entry_left_running_does_not_block_the_queue(tmp_path, monkeypatch):
    monkeypatch.setenv("KOHYAWIZ_HOME", str(tmp_path))
    from kohyawiz.run import queue

    (tmp_path / "queue.json").write_text(json.dumps([
        {"id": "a", "plan_dir": "/nope", "status": "running", "added": "", "run": None},
        {"id": "b", "plan_dir": "/nope2", "status": "pending", "added": "", "run": None},
    ]))  # fmt: skip
    assert queue.mark_stale_running() == ["a"]
    assert queue.next_entry().id == "a"  # an interrupted entry runs again (from its newest saved state)
    assert queue.claim_next().id == "a" and queue.claim_next().id == "b" and queue.claim_next() is None
    assert [e.status for e in queue.load_queue()] == ["running", "running"]


def test_two_queue_runs_never_start_an_entry_twice(tmp_path, monkeypatch):
    monkeypatch.setenv("KOHYAWIZ_HOME", str(tmp_path))
    from kohyawiz.run import queue

    (tmp_path / "queue.json").write_text(json.dumps([{"id": "a", "plan_dir": "/nope", "status": "pending"}]))
    env = {**os.environ, "KOHYAWIZ_HOME": str(tmp_path)}
    with queue.runner():
        second = subprocess.run([sys.executable, "-m", "kohyawiz", "queue", "run"], capture_output=True, text=True,
                                env=env, timeout=60)  # fmt: skip
    one_line(second)
    assert "another `kohyawiz queue run`" in second.stderr
    assert queue.load_queue()[0].status == "pending"


def test_values_no_file_can_hold_are_one_line(tmp_path):
    from kohyawiz.emit import render

    with pytest.raises(UserError, match="not valid Unicode"):
        render(plan_for(tmp_path, overrides={"output_name": "x\udcff"}))


DOORS = [
    ("preset.toml", lambda p: __import__("kohyawiz.presets", fromlist=["load_preset"]).load_preset(str(p))),
    ("dataset.toml", lambda p: __import__("kohyawiz.cli.check_cmd", fromlist=["x"]).toml_findings(
        p, __import__("kohyawiz.dataset.doctor", fromlist=["CheckOptions"]).CheckOptions(), None, None)),
    ("config.json", lambda p: __import__("kohyawiz.interop.kohya", fromlist=["read_config"]).read_config(p)),
    ("config.toml", lambda p: __import__("kohyawiz.interop.kohya", fromlist=["read_config"]).read_config(p)),
    ("plan.json", lambda p: __import__("kohyawiz.interop.diff", fromlist=["load_side"]).load_side(str(p))),
    ("m.safetensors", lambda p: __import__("kohyawiz.models", fromlist=["inspect_model"]).inspect_model(str(p))),
]  # fmt: skip
HOSTILE_TEXT = st.one_of(
    st.text(max_size=300),
    st.sampled_from(['schema_version = 1\n[answers]\nextends = "x"', "[[datasets]]\n[[datasets.subsets]]\nimage_dir = 1",
                     '{"decisions": [1, {"key": []}]}', "a = 1e400", '{"a": NaN}', "[general]\nresolution = [1, 2, 3]",
                     'schema_version = 1\n[answers]\nsubject = "style"\n[[answers.concepts]]\nname = "x"\nimages = -1']),
)  # fmt: skip


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(door=st.sampled_from(range(len(DOORS))), text=HOSTILE_TEXT)
def test_fuzz_every_door_gives_success_or_one_line(tmp_path_factory, door, text):
    name, open_it = DOORS[door]
    path = tmp_path_factory.mktemp("door") / name
    if name.endswith(".safetensors"):
        raw = text.encode("utf-8", "surrogatepass")
        path.write_bytes(len(raw).to_bytes(8, "little") + raw)
    else:
        path.write_bytes(text.encode("utf-8", "surrogatepass"))
    start = time.monotonic()
    try:
        open_it(path)
    except UserError as exc:
        assert "\n" not in str(exc).strip()
    assert time.monotonic() - start < 5


# Issue 21: one trust boundary (kohyawiz/trust.py) for every value that is not from this person's command line.
PLAN_ARGS = ["plan", "--family", "sd1", "--subject", "character", "--vram", "12", "--concept", "a=30"]
SENDERS_AND_PATHS = {"huggingface_token": "hf_x", "output_dir": "/tmp/x", "log_with": "wandb",
                     "wandb_api_key": "k", "huggingface_repo_id": "me/x", "network_args": ["preset=/home/x.toml"],
                     "base_weights": ["/tmp/a=b.safetensors"], "output_name": "../../.."}  # fmt: skip


def _toml_table(values: dict[str, object]) -> str:
    return "".join(f"{k} = {json.dumps(v)}\n" for k, v in values.items())


@pytest.mark.parametrize("key", sorted(SENDERS_AND_PATHS))
def test_boundary_refuses_answers_overrides_and_extends_parents(tmp_path, key):
    evil = tmp_path / "evil.toml"
    evil.write_text('schema_version = 1\n[answers]\nsubject = "character"\n[answers.overrides]\n'
                    + _toml_table({key: SENDERS_AND_PATHS[key]}))  # fmt: skip
    child = tmp_path / "child.toml"
    child.write_text('schema_version = 1\nextends = "evil.toml"\n[answers]\nsubject = "style"\n')
    for preset in (evil, child):
        run = kohyawiz(*PLAN_ARGS, "--preset", str(preset), "--out", str(tmp_path / "p"))
        one_line(run)
        assert key in run.stderr and not (tmp_path / "p").exists()


def test_boundary_network_options_in_a_preset_cannot_name_a_path(tmp_path):
    preset = tmp_path / "p.toml"
    preset.write_text('schema_version = 1\n[answers]\nnetwork = "locon"\n[answers.network_options]\npreset = "~/x.toml"\n')
    from kohyawiz.presets import load_preset

    with pytest.raises(UserError, match=r"network_options\.preset"):
        load_preset(str(preset))


def test_the_plans_own_preset_never_carries_what_a_shared_one_may_not(tmp_path):
    out = tmp_path / "p"
    assert kohyawiz(*PLAN_ARGS, "--set", "huggingface_token=hf_SECRET", "--set", "output_dir=/home/me/x",
                    "--out", str(out)).returncode == 0  # fmt: skip
    text = (out / "preset.toml").read_text()
    assert "hf_SECRET" not in text and "/home/me" not in text and "left out" in text
    assert kohyawiz(*PLAN_ARGS, "--preset", str(out / "preset.toml"), "--out", str(tmp_path / "again")).returncode == 0


def test_import_keeps_paths_hidden_in_values_out(tmp_path):
    from kohyawiz.interop.kohya import import_settings

    gui = {"LoRA_type": "LyCORIS/LoCon", "LyCORIS_preset": "/home/alice/x.toml", "network_dim": 8,
           "base_weights": "/tmp/a=b.safetensors", "huggingface_token": "hf_x"}  # fmt: skip
    result = import_settings(gui, "gui.json")
    assert "base_weights" not in result.overrides and "preset" not in result.answers.get("network_options", {})
    toml = {"network_module": "lycoris.kohya", "network_args": ["algo=locon", "preset=../../x.toml"], "network_dim": 8}
    assert "preset" not in import_settings(toml, "config.toml").answers.get("network_options", {})


def _home_env(home: Path) -> dict[str, str]:
    return {**os.environ, "KOHYAWIZ_HOME": str(home)}


def test_train_checks_a_shared_plan_folder_and_says_what_it_refused(tmp_path):
    out = tmp_path / "mine"
    assert kohyawiz(*PLAN_ARGS, "--log-with", "wandb", "--out", str(out)).returncode == 0
    dry = ["train", "--dry-run", "--sd-scripts", str(Path(__file__).parent / "fake_sd")]
    own = kohyawiz(dry[0], str(out), *dry[1:])
    assert "refused" not in own.stderr  # this person's own plan, with their own --log-with
    shared = tmp_path / "shared"
    shutil.copytree(out, shared)
    config = shared / "config.toml"
    config.write_text(config.read_text() + 'huggingface_repo_id = "x/y"\n'
                      .replace("huggingface", "\n[extra]\nhuggingface"))  # fmt: skip
    text = config.read_text().replace('output_name = "a"', 'output_name = "../../.."')
    config.write_text(text.replace(str(out / "output"), "/tmp/elsewhere"))
    stranger = subprocess.run([sys.executable, "-m", "kohyawiz", dry[0], str(shared), *dry[1:]], capture_output=True,
                              text=True, env=_home_env(tmp_path / "stranger-home"), timeout=60)  # fmt: skip
    one_line(stranger)
    for said in ("log_with", "huggingface_repo_id", "output_dir", "output_name"):
        assert said in stranger.stderr


def test_run_records_stay_inside_the_runs_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("KOHYAWIZ_HOME", str(tmp_path / "home"))
    from kohyawiz.run.records.record import RunRecord, runs_home

    record = RunRecord.create("../../..", {}, [])
    assert record.folder.parent == runs_home()


def test_plan_out_keeps_the_persons_files_by_the_manifest(tmp_path):
    out = tmp_path / "p"
    assert kohyawiz(*PLAN_ARGS, "--samples", "--out", str(out)).returncode == 0
    (out / "sample_prompts.txt").write_text("my own prompts\n")
    assert kohyawiz(*PLAN_ARGS, "--out", str(out)).returncode == 0  # writes no prompts: leaves mine alone
    assert (out / "sample_prompts.txt").read_text() == "my own prompts\n"
    with (out / "config.toml").open("a") as config:
        config.write("# my edit\n")
    run = kohyawiz(*PLAN_ARGS, "--out", str(out))
    one_line(run)
    assert "config.toml" in run.stderr and "# my edit" in (out / "config.toml").read_text()
    (out / ".config.toml.abc.tmp").write_text("left by a killed plan")
    assert kohyawiz(*PLAN_ARGS, "--out", str(out), "--force").returncode == 0
    assert "# my edit" not in (out / "config.toml").read_text() and not list(out.glob(".*.tmp"))
    from kohyawiz.emit import foreign_files

    assert foreign_files(out, ["config.toml", "dataset.toml", "sample_prompts.txt"]) == ["sample_prompts.txt"]


def test_last_resort_handler_is_one_line_with_a_report(tmp_path, monkeypatch, capsys):
    from kohyawiz import cli
    from kohyawiz.cli import plan_cmd

    def broken(args: object) -> int:
        raise RuntimeError("an internal slip")

    monkeypatch.setattr(plan_cmd, "run_plan", broken)
    code = cli.main(["plan", "--set", "huggingface_token=hf_SECRET", "--out", str(tmp_path / "p")])
    err = capsys.readouterr().err
    assert code == 70 and len(err.strip().splitlines()) == 1 and "Traceback" not in err and "kohyawiz bug" in err
    report = Path(err.split(" are in ", 1)[1].split(": please", 1)[0])
    text = report.read_text()
    assert "RuntimeError: an internal slip" in text and "kohyawiz plan" in text and "hf_SECRET" not in text
    assert report.parent == Path(os.environ["KOHYAWIZ_HOME"]) / "bugs"


def test_a_reader_that_goes_away_is_no_traceback(monkeypatch, capsys):
    from kohyawiz import cli

    class Gone:
        def write(self, text: str) -> int:
            raise BrokenPipeError(32, "Broken pipe")

        def flush(self) -> None:
            raise BrokenPipeError(32, "Broken pipe")

    monkeypatch.setattr(sys, "stdout", Gone())
    assert cli.main(["explain", "rules"]) == 1
    assert "Traceback" not in capsys.readouterr().err


def test_control_characters_from_files_are_shown_escaped(tmp_path):
    bad = tmp_path / "evil\x1b]0;owned\x07.toml"
    bad.write_text("schema_version = 2\n")
    run = kohyawiz("plan", "--preset", str(bad), "--out", str(tmp_path / "p"))
    one_line(run)
    assert "\x1b" not in run.stderr and "\x07" not in run.stderr and "\\x1b" in run.stderr


@pytest.mark.parametrize("setting", ["max_train_epochs=10000000000", "max_bucket_reso=10000000000",
                                     "max_train_steps=" + "9" * 30, "min_bucket_reso=7", "bucket_reso_steps=0",
                                     "resolution=0", "learning_rate=nan", "network_args=[" + "1" * 5000 + "]"])  # fmt: skip
def test_ranges_are_checked_before_any_work(tmp_path, setting):
    start = time.monotonic()
    one_line(kohyawiz(*PLAN_ARGS, "--set", setting, "--set", "enable_bucket=true", "--out", str(tmp_path / "p")))
    assert time.monotonic() - start < 20


def test_numbers_from_presets_and_imports_are_range_checked_too(tmp_path):
    preset = tmp_path / "p.toml"
    preset.write_text('schema_version = 1\n[answers]\nsubject = "style"\n[overrides]\nmax_train_epochs = 10000000000\n')
    start = time.monotonic()
    one_line(kohyawiz(*PLAN_ARGS, "--preset", str(preset), "--out", str(tmp_path / "a")))
    from kohyawiz.interop.kohya import import_settings

    imported = import_settings({"LoRA_type": "Standard", "epoch": 10000000000, "network_dim": 8}, "gui.json")
    assert "max_train_epochs" not in imported.overrides
    assert time.monotonic() - start < 20


def _linked_dataset(tmp_path: Path) -> tuple[Path, Path]:
    secret = tmp_path / "secret" / "id_rsa"
    secret.parent.mkdir()
    secret.write_text("SECRET-KEY-MATERIAL\n")
    folder = make_folder(tmp_path / "train", "10_x", [(512, 512)] * 3, "x, tag")
    (folder / "img000.txt").unlink()
    (folder / "img000.txt").symlink_to(secret)
    (folder / "outside.png").symlink_to(secret)
    return tmp_path / "train", secret


def test_check_and_tags_never_read_through_a_link_out(tmp_path):
    train, secret = _linked_dataset(tmp_path)
    checked = kohyawiz("check", str(train))
    assert "SECRET" not in checked.stdout + checked.stderr and "leads out of its folder" in checked.stdout
    tags = kohyawiz("tags", str(train), "--write")
    assert "SECRET" not in tags.stdout + tags.stderr and "skipped" in tags.stdout
    assert secret.read_text() == "SECRET-KEY-MATERIAL\n" and (train / "10_x" / "img000.txt").is_symlink()
    planned = kohyawiz(*PLAN_ARGS[:-2], "--dataset", str(train), "--out", str(tmp_path / "p"))
    one_line(planned)
    assert "SECRET" not in planned.stderr


def test_prepare_skips_links_out_and_names_every_image_apart(tmp_path):
    from PIL import Image

    from kohyawiz.dataset.prepare import prepare

    raw = tmp_path / "raw"
    raw.mkdir()
    for name, colour in (("dup.png", 1), ("dup.gif", 2), ("dup-png.png", 3)):
        Image.new("RGB", (64, 64), (colour, 0, 0)).save(raw / name)
        (raw / name).with_suffix(".txt").write_text(f"caption {colour}") if name != "dup.gif" else None
    secret = tmp_path / "secret.txt"
    secret.write_text("SECRET")
    (raw / "linked.png").symlink_to(raw / "dup.png")  # inside the raw folder: fine
    (raw / "away.png").symlink_to(tmp_path / "elsewhere.png")
    Image.new("RGB", (64, 64)).save(tmp_path / "elsewhere.png")
    (raw / "linked.txt").symlink_to(secret)
    into = tmp_path / "into"
    report = prepare(raw, into)
    names = [p.target.name for p in report if p.target]
    assert len(names) == len(set(names)) == 4
    assert any(p.problem and "leads out" in p.problem for p in report if p.source.name == "away.png")
    assert not any("SECRET" in p.read_text(errors="replace") for p in into.glob("*.txt"))
    by_source = {p.source.name: p.target for p in report if p.target}
    assert by_source["dup.png"].with_suffix(".txt").read_text() == "caption 1"
    assert by_source["dup-png.png"].with_suffix(".txt").read_text() == "caption 3"


def test_prepare_on_a_full_disk_is_one_line(tmp_path, monkeypatch):
    import errno

    from PIL import Image

    from kohyawiz.dataset import prepare as prepare_module

    raw = tmp_path / "raw"
    raw.mkdir()
    Image.new("RGB", (64, 64)).save(raw / "a.png")

    def full(path: Path, data: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(prepare_module, "write_atomic", full)
    with pytest.raises(UserError, match="No space left"):
        prepare_module.prepare(raw, tmp_path / "into")


# Cases the door fuzzer (tests/test_fuzz_doors.py) found.
def test_explain_on_a_plan_json_it_did_not_write(tmp_path):
    out = tmp_path / "p"
    assert kohyawiz(*PLAN_ARGS, "--out", str(out)).returncode == 0
    plan = json.loads((out / "plan.json").read_text())
    for damage in ({"decisions": "hf_x"}, {"figures": []}, {"findings": [1]}, {"launch": 3}):
        (out / "plan.json").write_text(json.dumps(plan | damage))
        one_line(kohyawiz("explain", str(out)))


def test_import_drops_values_no_preset_can_hold(tmp_path):
    from kohyawiz.interop.kohya import import_settings

    for changes in ({"LyCORIS_preset": {}}, {"learning_rate": float("nan")}, {"optimizer_args": {"a": 1}},
                    {"network_dim": [1, "a"]}):  # fmt: skip
        data = json.loads((DATA / "gui_new_sdxl_loha.json").read_text()) | changes
        source = tmp_path / "gui.json"
        source.write_text(json.dumps(data))
        run = kohyawiz("import", str(source), "--out", str(tmp_path / "p.toml"))
        assert run.returncode == 0 and "Traceback" not in run.stderr, run.stderr
        assert import_settings(data, "gui.json") is not None


def test_a_queue_file_with_fields_that_are_not_text(tmp_path):
    (tmp_path / "queue.json").write_text(json.dumps([{"id": {}, "plan_dir": [], "status": []}]))
    env = {**os.environ, "KOHYAWIZ_HOME": str(tmp_path)}
    listed = subprocess.run([sys.executable, "-m", "kohyawiz", "queue", "list"], capture_output=True, text=True, env=env)
    one_line(listed)


def test_a_dataset_config_naming_a_folder_no_system_can_hold(tmp_path):
    config = tmp_path / "dataset.toml"
    config.write_text(f'[[datasets]]\n[[datasets.subsets]]\nimage_dir = "{"1" * 5000}"\n')
    run = kohyawiz("check", str(config))
    assert run.returncode in (1, 2) and "Traceback" not in run.stderr and "kohyawiz bug" not in run.stderr


def test_import_and_export_never_write_over_the_persons_files(tmp_path):
    source = DATA / "gui_new_sdxl_loha.json"
    mine = tmp_path / "mine.toml"
    mine.write_text("# my notes\n")
    one_line(kohyawiz("import", str(source), "--out", str(mine)))
    assert mine.read_text() == "# my notes\n"
    fresh = tmp_path / "fresh.toml"
    assert kohyawiz("import", str(source), "--out", str(fresh)).returncode == 0
    assert kohyawiz("import", str(source), "--out", str(fresh)).returncode == 0  # its own file: replaced
    out = tmp_path / "p"
    assert kohyawiz(*PLAN_ARGS, "--out", str(out)).returncode == 0
    gui = tmp_path / "gui.json"
    gui.write_text("{}")
    one_line(kohyawiz("export", str(out), "--kohya-gui", str(gui)))
    assert gui.read_text() == "{}"


@pytest.mark.parametrize("extension", ["txt", "/../../etc/passwd", "", "*"])
def test_caption_extensions_as_sd_scripts_reads_them(tmp_path, extension):
    train = tmp_path / "train"
    make_folder(train, "10_x", [(512, 512)] * 3, "x, tag")
    run = kohyawiz(*PLAN_ARGS[:-2], "--dataset", str(train), "--set", f"caption_extension={extension}", "--force",
                   "--out", str(tmp_path / "p"))  # fmt: skip
    assert "Traceback" not in run.stderr and "kohyawiz bug" not in run.stderr, run.stderr
    if extension == "txt":
        assert run.returncode == 0 and "has no dot" in run.stdout
    else:
        one_line(run)
    for door in (["check", str(train), "--caption-extension", "/x"], ["tags", str(train), "--caption-extension", "/x"]):
        one_line(kohyawiz(*door))


def test_train_refuses_links_out_inside_a_copied_plan_folder(tmp_path):
    """Found in review 2: paths were checked as written, so a copied plan folder whose `output` or
    image folder is a link out, or whose caption links to a secret, passed `train`."""
    out = tmp_path / "mine"
    make_folder(tmp_path / "train", "10_x", [(512, 512)] * 8, "x, tag")
    assert kohyawiz(*PLAN_ARGS[:-2], "--dataset", str(tmp_path / "train"), "--out", str(out)).returncode == 0
    secret = tmp_path / "secret"
    secret.mkdir()
    (secret / "id_rsa").write_text("SECRET-KEY-MATERIAL\n")
    dry = ["--dry-run", "--sd-scripts", str(Path(__file__).parent / "fake_sd")]
    stranger = _home_env(tmp_path / "stranger-home")

    def train(folder: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "kohyawiz", "train", str(folder), *dry], capture_output=True,
                              text=True, env=stranger, timeout=60)  # fmt: skip

    shared = tmp_path / "shared"
    shutil.copytree(out, shared)
    shutil.copytree(tmp_path / "train", shared / "ds")
    dataset = shared / "dataset.toml"
    dataset.write_text(dataset.read_text().replace(str(tmp_path / "train"), str(shared / "ds")))
    assert "refused" not in train(shared).stderr  # everything inside the folder, no link
    (shared / "output").symlink_to(secret)
    linked = train(shared)
    one_line(linked)
    assert "output_dir" in linked.stderr and "through a link" in linked.stderr
    (shared / "output").unlink()
    caption = shared / "ds" / "10_x" / "img000.txt"
    caption.unlink()
    caption.symlink_to(secret / "id_rsa")
    read_through = train(shared)
    one_line(read_through)
    assert "img000.txt is a link that leads out" in read_through.stderr and "SECRET" not in read_through.stderr


def test_tags_write_never_replaces_a_folder_or_pipe_where_a_caption_goes(tmp_path):
    """Found in review 2: a folder named img001.txt ended `tags --write` in a kohyawiz bug report,
    and a FIFO caption was replaced by a regular file."""
    folder = make_folder(tmp_path / "train", "10_x", [(512, 512)] * 3, "tag")
    (folder / "img001.txt").unlink()
    (folder / "img001.txt").mkdir()
    (folder / "img002.txt").unlink()
    os.mkfifo(folder / "img002.txt")
    run = kohyawiz("tags", str(tmp_path / "train"), "--write", timeout=20)
    assert run.returncode == 0, run.stderr
    assert "not a caption file" in run.stdout and "1 captions written" in run.stdout
    assert (folder / "img001.txt").is_dir() and stat.S_ISFIFO(os.lstat(folder / "img002.txt").st_mode)
    assert (folder / "img000.txt").read_text() == "x, tag\n"


@pytest.mark.parametrize("key,value", [("network_module", "antigravity"), ("optimizer_type", "os.system"),
                                       ("lr_scheduler_type", "subprocess.Popen"), ("dataset_class", "os.path")])  # fmt: skip
def test_shared_files_never_choose_code_for_sd_scripts_to_import(tmp_path, key, value):
    """Found in review 2: sd-scripts imports network_module and a dotted optimizer_type,
    lr_scheduler_type or dataset_class by name, and a shared preset, import or plan folder chose them."""
    from kohyawiz.presets import load_preset
    from kohyawiz.trust import foreign_refusals

    preset = tmp_path / "shared.toml"
    preset.write_text(f'schema_version = 1\n[answers]\nsubject = "style"\n[answers.overrides]\n{key} = "{value}"\n')
    with pytest.raises(UserError, match="import"):
        load_preset(str(preset))
    assert not foreign_refusals({"network_module": "networks.lora_flux", "optimizer_type": "AdamW8bit"})
    out = tmp_path / "mine"
    assert kohyawiz(*PLAN_ARGS, "--set", f"{key}={value}", "--out", str(out)).returncode in (0, 2)
    if (out / "config.toml").is_file():  # the person's own --set passes their own train, and stays out of preset.toml
        assert value not in (out / "preset.toml").read_text().split("# left out")[0]
        own = kohyawiz("train", str(out), "--dry-run", "--sd-scripts", str(Path(__file__).parent / "fake_sd"))
        assert "refused" not in own.stderr


@pytest.mark.parametrize("extends", ["/etc/passwd", "../../../../etc/hostname", "~/.cargo/credentials.toml", "link.toml"])
def test_a_shared_preset_extends_only_what_lies_beside_it(tmp_path, extends):
    """Found in review 2: `extends` read any file a shared preset named (an absolute path, `..`
    steps, a link beside it leading out)."""
    from kohyawiz.presets import load_preset

    outside = tmp_path / "outside.toml"
    outside.write_text('schema_version = 1\n[answers]\nsubject = "style"\n')
    folder = tmp_path / "shared"
    (folder / "base").mkdir(parents=True)
    (folder / "link.toml").symlink_to(outside)
    (folder / "base" / "parent.toml").write_text(outside.read_text())
    child = folder / "child.toml"
    child.write_text(f'schema_version = 1\nextends = "{extends}"\n')
    with pytest.raises(UserError, match=r"leads out of the preset's folder|no preset file"):
        load_preset(str(child))
    child.write_text('schema_version = 1\nextends = "base/parent.toml"\n')
    assert load_preset(str(child)).answers["subject"] == "style"
    child.write_text('schema_version = 1\nextends = "anime-booru"\n')
    assert "anime-booru.toml" in [p.name for p in load_preset(str(child)).chain]


def test_prepare_keeps_what_the_training_folder_already_holds(tmp_path):
    """Found in review 2: `prepare --into` a folder with the person's own a.png and a.txt replaced
    both; a raw caption that is a link to a FIFO hung it; a hidden `.b.png` was prepared under a
    name sd-scripts' glob never reads."""
    from conftest import png_bytes

    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "a.png").write_bytes(png_bytes(600, 600, 1))
    (raw / "a.txt").write_text("raw caption\n")
    (raw / ".b.png").write_bytes(png_bytes(600, 600, 2))
    (raw / "c.png").write_bytes(png_bytes(600, 600, 3))
    os.mkfifo(raw / "pipe")
    (raw / "c.txt").symlink_to("pipe")
    into = tmp_path / "train" / "10_x"
    into.mkdir(parents=True)
    mine = png_bytes(600, 600, 9)
    (into / "a.png").write_bytes(mine)
    (into / "a.txt").write_text("MY OWN CAPTION\n")
    run = kohyawiz("prepare", str(raw), "--into", str(into), timeout=20)
    assert run.returncode == 0, run.stderr
    assert (into / "a.png").read_bytes() == mine and (into / "a.txt").read_text() == "MY OWN CAPTION\n"
    assert (into / "a-png.txt").read_text() == "raw caption\n" and (into / "b.png").is_file()
    assert "not a regular file" in run.stdout and not (into / "c.txt").exists()
    (into / "a-png.txt").write_text("edited after prepare\n")
    again = kohyawiz("prepare", str(raw), "--into", str(into), timeout=20)
    assert again.returncode == 0 and "yours is kept" in again.stdout, again.stdout
    assert (into / "a-png.txt").read_text() == "edited after prepare\n"
    assert sorted(p.name for p in into.iterdir()) == ["a-png.png", "a-png.txt", "a.png", "a.txt", "b.png", "c.png"]


@pytest.mark.parametrize("line", ['dataset = 5', 'concept_counts = 5', 'model_path = 3', 'name = ["a"]', 'out_dir = ["/x"]',
                                  'overrides = 5', 'gpus = 1e308', 'vram_gb = "abc"', 'vram_gb = nan'])  # fmt: skip
def test_a_wizard_answers_file_with_values_of_the_wrong_type_is_one_line(tmp_path, line):
    """Found in review 2: `kohyawiz wizard --answers` took every value as it came, and `dataset = 5`
    ended in an AttributeError when the plan was asked for."""
    from kohyawiz.tui.state import RECOVERY_MARK, WizardState

    key = line.split(" = ")[0]
    with pytest.raises(UserError, match=f" {key} = .* should be"):
        WizardState.from_toml(f"{RECOVERY_MARK} = 1\n{line}\n", "answers.toml")
    state = WizardState(dataset="/x", vram_gb=12, gpus=2, from_header=["family"], overrides={"network_dim": "8"})
    assert WizardState.from_toml(state.to_toml(), "answers.toml") == state


def test_the_boundary_says_why_for_each_kind_and_lets_only_a_hub_id_name_no_file():
    """trust.py's allow-list, key by key: a Hugging Face id is the one model value without a path."""
    from kohyawiz.trust import foreign_refusals

    def why(key: str, value: object) -> str | None:
        refused = foreign_refusals({key: value})
        return refused[0].why if refused else None

    assert why("huggingface_token", "hf_x") == "is a credential"
    assert why("wandb_api_key", "k") == "is a credential"
    assert why("huggingface_repo_id", "me/x").startswith("is an upload target")
    assert why("log_with", "wandb").startswith("is remote logging") and why("log_with", "tensorboard") is None
    assert why("pretrained_model_name_or_path", "runwayml/stable-diffusion-v1-5") is None
    for path in ("/home/alice/m.safetensors", "~/m.safetensors", "models/base.safetensors", "../m.ckpt", "C:/m.ckpt"):
        assert why("pretrained_model_name_or_path", path) == f"is a machine path ({path!r})"
    assert why("network_args", ["preset=/home/a/x.toml"]) == "names a path that leads out ('/home/a/x.toml')"
    assert why("network_args", ["conv_dim=4"]) is None


def test_a_wizard_answers_file_and_a_strangers_plan_json_cross_the_boundary(tmp_path):
    from kohyawiz.tui.state import WizardState

    for key, value, said in (("huggingface_token", '"hf_x"', "is a credential"),
                             ("output_dir", '"/tmp/elsewhere"', "is a machine path")):  # fmt: skip
        with pytest.raises(UserError, match=f"overrides.{key} {said}.*an answers file cannot carry it"):
            WizardState.from_toml(f"[overrides]\n{key} = {value}\n", "answers.toml")
    out = tmp_path / "p"
    assert kohyawiz(*PLAN_ARGS, "--out", str(out)).returncode == 0
    data = json.loads((out / "plan.json").read_text())
    data["answers"]["overrides"]["huggingface_token"] = "hf_SECRET"
    (out / "plan.json").write_text(json.dumps(data))
    gui = tmp_path / "gui.json"
    run = kohyawiz("export", str(out), "--kohya-gui", str(gui))
    one_line(run)
    assert "answers.overrides.huggingface_token is a credential" in run.stderr
    assert not gui.exists()


@pytest.mark.parametrize("answers", [True, 5, 1e308, {"gpus": "x"}, {"gpus": True}])
def test_export_on_a_plan_json_whose_answers_are_not_a_table(tmp_path, answers):
    """Found in review 2: `export --slurm` on a plan.json with `"answers": true` was an
    AttributeError (a kohyawiz bug report)."""
    out = tmp_path / "p"
    assert kohyawiz(*PLAN_ARGS, "--out", str(out)).returncode == 0
    plan = json.loads((out / "plan.json").read_text())
    plan["answers"] = answers
    plan["requires"] = answers
    (out / "plan.json").write_text(json.dumps(plan))
    for door in (["--slurm", "--sd-scripts", str(Path(__file__).parent / "fake_sd")], ["--skypilot"]):
        run = kohyawiz("export", str(out), *door)
        assert "kohyawiz bug" not in run.stderr and "Traceback" not in run.stderr, run.stderr


def test_control_characters_never_reach_class_tokens(tmp_path, capsys):
    """A concept name or folder with a terminal escape would be written into dataset.toml's class_tokens, and from
    there into every caption and the LoRA's metadata: refused in one line, whether typed or read from a folder."""
    from kohyawiz.cli import main

    base = ["plan", "--subject", "character", "--family", "sd1", "--vram", "12"]
    assert main([*base, "--concept", "a\x1b[2J=30", "--out", str(tmp_path / "p")]) != 0
    err = capsys.readouterr().err
    assert "control characters" in err and "\x1b" not in err and len(err.strip().splitlines()) == 1
    data = tmp_path / "data"
    make_folder(data, "10_a\u202egnp", [(512, 512)] * 3, caption="a")
    assert main([*base, "--dataset", str(data), "--out", str(tmp_path / "q")]) != 0
    assert "control characters" in capsys.readouterr().err
    assert not (tmp_path / "p").exists() and not (tmp_path / "q").exists()


def test_a_warmup_past_any_run_is_refused_at_once(tmp_path, capsys):
    """C-RANGE: lr_warmup_steps has an upper bound like every step count."""
    from kohyawiz.cli import main

    code = main(["plan", "--subject", "character", "--family", "sd1", "--vram", "12", "--concept", "x=20",
                 "--set", "lr_warmup_steps=1000000000000", "--out", str(tmp_path / "p")])  # fmt: skip
    assert code != 0 and "lr_warmup_steps" in capsys.readouterr().err
