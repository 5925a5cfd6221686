"""A plan beyond this machine: portable plans, the sbatch script, the SkyPilot task, `runs watch`.

The content tests need neither Slurm nor SkyPilot. Opt-in: KOHYAWIZ_SLURM_TEST=1 starts a
single-node Slurm from the distribution's packages and trains through the exported script (with
the test double for sd-scripts); KOHYAWIZ_SKY_PYTHON (a Python with SkyPilot, or SkyPilot in
this one, or behind a `sky` command) loads the exported task with SkyPilot's own loader.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kohyawiz.assemble import PlanRequest, plan_from_request
from kohyawiz.emit import write_plan
from kohyawiz.errors import UserError
from kohyawiz.run.portable import needs, remote_layout, rewritten
from kohyawiz.run.sdscripts.locate import find_sd_scripts
from kohyawiz.run.skypilot import SkyOptions, smallest_accelerator, task, task_yaml
from kohyawiz.run.slurm import SlurmOptions, sbatch_script
from kohyawiz.run.train import PlanFolder
from tests.conftest import make_folder

HERE = Path(__file__).resolve().parent
FAKE = HERE / "fake_sd"
LOG = HERE / "data" / "sd-scripts-logs" / "lora-console-log-simple.log"
SECRET = "hf_kohyawiz_test_secret_value"


def _plan(tmp_path: Path, *, gpus: int = 1, nodes: int = 1, model: str | None = None, **answers: object) -> Path:
    data = tmp_path / "train"
    make_folder(data, "10_hero", [(768, 768)] * 20, "hero, solo")
    if model is None:
        weights = tmp_path / "models" / "base.safetensors"
        weights.parent.mkdir(parents=True, exist_ok=True)
        weights.write_bytes(b"x")
        model = str(weights)
    request = PlanRequest(
        out_dir=tmp_path / "plan", preset="character-sd15",
        answers={"vram_gb": 24, "gpus": gpus, "nodes": nodes, "model": {"path": model}, **answers}, dataset=data,
    )  # fmt: skip
    plan, _ = plan_from_request(request)
    write_plan(plan)
    return tmp_path / "plan"


@pytest.fixture(autouse=True)
def _home(tmp_path, monkeypatch):
    monkeypatch.setenv("KOHYAWIZ_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("HF_TOKEN", SECRET)


def test_plan_json_names_what_must_exist_where_it_runs(tmp_path):
    folder = PlanFolder.load(_plan(tmp_path, gpus=8, nodes=2))
    requires = folder.plan["requires"]
    assert requires["models"][0] == {"key": "pretrained_model_name_or_path",
                                     "path": str(tmp_path / "models" / "base.safetensors")}  # fmt: skip
    assert requires["datasets"] == [{"concept": "hero", "path": str(tmp_path / "train" / "10_hero")}]
    assert requires["sd_scripts"]["commit"] and "torch" in requires
    assert (requires["machines"], requires["gpus_per_machine"]) == (2, 8)
    hub = PlanFolder.load(_plan(tmp_path / "hub", model="org/some-model"))
    assert hub.plan["requires"]["models"][0] == {"key": "pretrained_model_name_or_path", "hub_id": "org/some-model"}


def test_export_refuses_paths_that_would_not_exist_in_one_line(tmp_path):
    plan_dir = _plan(tmp_path)
    (tmp_path / "models" / "base.safetensors").unlink()
    for image in (tmp_path / "train" / "10_hero").glob("*"):
        image.unlink()
    (tmp_path / "train" / "10_hero").rmdir()
    folder = PlanFolder.load(plan_dir)
    with pytest.raises(UserError) as caught:
        task(folder, SkyOptions(accelerator="L4"), tmp_path / "out" / "plan")
    message = str(caught.value)
    assert "\n" not in message and "base.safetensors" in message and "10_hero" in message
    assert "pretrained_model_name_or_path" in message and "image_dir" in message
    with pytest.raises(UserError, match="would not exist on the cluster"):
        sbatch_script(folder, find_sd_scripts(str(FAKE), sys.executable), SlurmOptions())


def test_paths_are_rewritten_for_the_remote_layout(tmp_path):
    plan_dir = _plan(tmp_path)
    folder = PlanFolder.load(plan_dir)
    found = needs(folder)
    assert {n.key for n in found} == {"pretrained_model_name_or_path", "image_dir"}
    files = rewritten(folder, remote_layout(folder, found, "/kohyawiz"))
    for name in ("config.toml", "dataset.toml"):
        assert str(tmp_path) not in files[name], name
    assert 'pretrained_model_name_or_path = "/kohyawiz/inputs/base.safetensors"' in files["config.toml"]
    assert 'output_dir = "/kohyawiz/output"' in files["config.toml"]
    assert 'image_dir = "/kohyawiz/inputs/10_hero"' in files["dataset.toml"]
    assert json.loads(files["plan.json"])["script_args"][1] == "/kohyawiz/plan/config.toml"


def test_two_inputs_with_one_name_get_two_remote_names(tmp_path):
    plan_dir = _plan(tmp_path)
    vae = tmp_path / "other" / "base.safetensors"
    vae.parent.mkdir()
    vae.write_bytes(b"x")
    config = plan_dir / "config.toml"
    config.write_text(config.read_text().replace("[model]\n", f'[model]\nvae = "{vae}"\n'))
    layout = remote_layout(PlanFolder.load(plan_dir), needs(PlanFolder.load(plan_dir)), "/r")
    assert sorted(layout.inputs.values()) == ["/r/inputs/10_hero", "/r/inputs/base-2.safetensors",
                                              "/r/inputs/base.safetensors"]  # fmt: skip


def test_skypilot_task_content(tmp_path):
    folder = PlanFolder.load(_plan(tmp_path, gpus=8, nodes=2, model="org/some-model"))
    data, _ = task(folder, SkyOptions(bucket="s3://loras/runs", secrets=["EXTRA_TOKEN"]), tmp_path / "sky" / "plan")
    assert data["num_nodes"] == 2
    estimate = folder.plan["figures"]["vram"]["estimate_gb"]
    assert data["resources"]["accelerators"] == f"{smallest_accelerator(estimate, False)}:8"
    ram = folder.plan["figures"]["vram"]["ram"]["estimate_gb"]
    assert data["resources"]["memory"] == f"{-(-ram * 8 // 1):.0f}+"  # the system memory of 8 processes
    assert data["file_mounts"]["/kohyawiz/output"] == {"source": "s3://loras/runs", "mode": "MOUNT"}
    assert data["file_mounts"]["/kohyawiz/plan"] == str(tmp_path / "sky" / "plan")
    assert data["file_mounts"]["/kohyawiz/inputs/10_hero"] == str(tmp_path / "train" / "10_hero")
    assert data["secrets"] == {"HF_TOKEN": None, "EXTRA_TOKEN": None}
    run = data["run"]
    assert '--machine_rank "$SKYPILOT_NODE_RANK"' in run and "SKYPILOT_NODE_IPS" in run
    assert "--num_processes 16 --num_machines 2" in run and "--multi_gpu" in run
    assert "48d368fa557731ad0488c07304dfeba8c07910eb" in data["setup"] and "requirements.txt" in data["setup"]
    text = task_yaml(data, folder.folder)
    assert SECRET not in text and "--secret HF_TOKEN --secret EXTRA_TOKEN" in text
    with pytest.raises(UserError, match="never its value"):
        task(folder, SkyOptions(secrets=["hf_abc=def"]), tmp_path / "x")
    with pytest.raises(UserError, match="re-plan with --gpus 4"):
        task(folder, SkyOptions(accelerator="H100:4"), tmp_path / "x")


def test_smallest_accelerator_that_fits():
    assert smallest_accelerator(10, False) == "T4"
    assert smallest_accelerator(10, True) == "L4"  # T4 has no bf16
    assert smallest_accelerator(70, True) == "A100-80GB"
    with pytest.raises(UserError, match="--accelerator"):
        smallest_accelerator(500, True)


def test_sbatch_script_content(tmp_path):
    folder = PlanFolder.load(_plan(tmp_path, gpus=8, nodes=2))
    sd = find_sd_scripts(str(FAKE), sys.executable)
    text = sbatch_script(folder, sd, SlurmOptions(partition="gpu", time="12:00:00"))
    for line in ("#SBATCH --nodes=2", "#SBATCH --ntasks-per-node=1", "#SBATCH --gpus-per-node=8", "#SBATCH --cpus-per-task=16",
                 "#SBATCH --partition=gpu", "#SBATCH --time=12:00:00"):  # fmt: skip
        assert line in text.splitlines()
    assert 'scontrol show hostnames "$SLURM_JOB_NODELIST"' in text and "srun --kill-on-bad-exit=1" in text
    srun = shlex.split(next(line for line in text.splitlines() if line.startswith("srun ")))
    assert srun[3] == "--cpus-per-task=$SLURM_CPUS_PER_TASK"
    inner = srun[6]
    assert '--machine_rank "$SLURM_NODEID"' in inner and '--main_process_port "$MAIN_PORT"' in inner
    assert shlex.quote(str(sd.python)) in inner and "--num_processes 16 --num_machines 2" in inner
    assert "--console_log_simple" in inner and "exit_status" in text
    assert subprocess.run(["bash", "-n"], input=text, text=True).returncode == 0
    capped = sbatch_script(folder, sd, SlurmOptions(max_cpus=12))  # a node of 12 CPUs cannot take 16
    assert "#SBATCH --cpus-per-task=12" in capped.splitlines()
    with pytest.raises(UserError, match="re-plan with --nodes 3"):
        sbatch_script(folder, sd, SlurmOptions(nodes=3))
    with pytest.raises(UserError, match="--time"):
        sbatch_script(folder, sd, SlurmOptions(time="soon; rm -rf /"))


def _cli(*args: str, env: dict[str, str] | None = None, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kohyawiz", *args], capture_output=True, text=True,
                          env=env or dict(os.environ), timeout=timeout)  # fmt: skip


def test_runs_watch_follows_a_record_until_its_exit_status(tmp_path):
    """What an sbatch script leaves: a record with plan.json, a growing train.log, then exit_status."""
    from kohyawiz.run.records.record import runs_home
    from kohyawiz.run.watch import follow

    folder = runs_home() / "20260101-000000-hero-slurm-77"
    folder.mkdir(parents=True)
    (folder / "plan.json").write_text("{}")
    log = LOG.read_text()
    (folder / "train.log").write_text(log[: len(log) // 2])

    def finish_later() -> None:
        time.sleep(0.5)
        with (folder / "train.log").open("a") as out:
            out.write(log[len(log) // 2 :])
        (folder / "exit_status").write_text("0\n")

    import threading

    writer = threading.Thread(target=finish_later)
    writer.start()
    outcome = follow(folder, poll_s=0.1, timeout_s=60)
    writer.join()
    assert outcome.status == "completed" and outcome.final_step == 8 and outcome.total_steps == 8
    assert json.loads((folder / "outcome.json").read_text())["status"] == "completed"
    shown = _cli("runs", "watch", "slurm-77", "--plain", "--wait", "0")
    assert shown.returncode == 0 and "completed" in shown.stdout, shown.stderr


def test_runs_watch_reads_a_log_piped_in(tmp_path):
    run = subprocess.run([sys.executable, "-m", "kohyawiz", "runs", "watch", "-", "--plain"], input=LOG.read_bytes(),
                         capture_output=True, timeout=120)  # fmt: skip
    assert run.returncode == 0 and b"completed" in run.stdout, run.stderr
    assert _cli("runs", "watch", "slurm-999", "--wait", "0").returncode == 2
    started = time.monotonic()
    typo = _cli("runs", "watch", "no-such-run")  # only a Slurm job id is waited for
    assert typo.returncode == 2 and "kohyawiz runs" in typo.stderr and time.monotonic() - started < 60


def test_export_cli_writes_both(tmp_path):
    plan_dir = _plan(tmp_path)
    sky = _cli("export", str(plan_dir), "--skypilot")
    assert sky.returncode == 0, sky.stderr
    assert (plan_dir / "skypilot" / "task.yaml").is_file() and (plan_dir / "skypilot" / "plan" / "config.toml").is_file()
    assert SECRET not in (plan_dir / "skypilot" / "task.yaml").read_text()
    slurm = _cli("export", str(plan_dir), "--slurm", "--sd-scripts", str(FAKE), "--python", sys.executable)
    assert slurm.returncode == 0 and os.access(plan_dir / "train.sbatch", os.X_OK), slurm.stderr


def _sky_python() -> str | None:
    """A Python with SkyPilot: $KOHYAWIZ_SKY_PYTHON, this one, or the one behind a `sky` command
    (`pipx install skypilot` keeps it in an environment of its own)."""
    import importlib.util
    import shutil

    if os.environ.get("KOHYAWIZ_SKY_PYTHON"):
        return os.environ["KOHYAWIZ_SKY_PYTHON"]
    if importlib.util.find_spec("sky") is not None:
        return sys.executable
    command = shutil.which("sky")
    if command is None:
        return None
    first = Path(command).read_bytes()[:300].split(b"\n", 1)[0].decode(errors="replace")
    return first[2:].strip() if first.startswith("#!") and Path(first[2:].strip()).is_file() else None


@pytest.mark.skipif(_sky_python() is None, reason="no SkyPilot: pipx install skypilot, or set KOHYAWIZ_SKY_PYTHON")
def test_skypilot_loads_the_task_with_its_own_parser(tmp_path):
    plan_dir = _plan(tmp_path, gpus=8, nodes=2, model="org/some-model")
    assert _cli("export", str(plan_dir), "--skypilot", "--bucket", "s3://loras/x").returncode == 0
    probe = (
        "import json, sys, sky\n"
        "t = sky.Task.from_yaml(sys.argv[1])\n"
        "r = list(t.resources)[0]\n"
        "print(json.dumps({'nodes': t.num_nodes, 'acc': r.accelerators, 'memory': r.memory,"
        " 'mounts': sorted(t.file_mounts or {}),"
        " 'storage': sorted(t.storage_mounts or {}), 'secrets': {k: str(v) for k, v in (t.secrets or {}).items()}}))\n"
    )
    run = subprocess.run([str(_sky_python()), "-c", probe, str(plan_dir / "skypilot" / "task.yaml")],
                         capture_output=True, text=True, timeout=300, cwd=tmp_path)  # fmt: skip
    assert run.returncode == 0, run.stderr[-2000:]
    loaded = json.loads(run.stdout.strip().splitlines()[-1])
    folder = PlanFolder.load(plan_dir)
    estimate = folder.plan["figures"]["vram"]["estimate_gb"]
    assert loaded["nodes"] == 2 and loaded["acc"] == {smallest_accelerator(estimate, False): 8}
    assert loaded["memory"] == f"{-(-folder.plan['figures']['vram']['ram']['estimate_gb'] * 8 // 1):.0f}+"
    assert "/kohyawiz/plan" in loaded["mounts"] and "/kohyawiz/inputs/10_hero" in loaded["mounts"]
    assert loaded["storage"] == ["/kohyawiz/output"]
    assert SECRET not in run.stdout and all(v in ("None", "") or v.startswith("<") for v in loaded["secrets"].values())


SLURM_OPT_IN = pytest.mark.skipif(os.environ.get("KOHYAWIZ_SLURM_TEST") != "1",
                                  reason="set KOHYAWIZ_SLURM_TEST=1 to start a Slurm")  # fmt: skip


def _train_on_slurm(tmp_path: Path, plan_dir: Path, sd_scripts: str, python: str, env_extra: dict[str, str]) -> dict:
    """Export the plan's sbatch script, submit it to a Slurm started here, watch it to its end;
    the run record's outcome comes back."""
    from tests.slurm_cluster import available, job_state, single_node_slurm

    if (problem := available()) is not None:
        pytest.skip(problem)
    with single_node_slurm(tmp_path / "slurm") as env:
        # exported while the cluster answers: its node lists no GPUs, so the script asks for none
        exported = _cli("export", str(plan_dir), "--slurm", "--time", "00:20:00", "--sd-scripts", sd_scripts,
                        "--python", python, env=env)  # fmt: skip
        assert exported.returncode == 0 and "list no GPUs" in exported.stdout, exported.stderr
        assert "--gpus-per-node" not in (plan_dir / "train.sbatch").read_text()
        env = {**env, **env_extra}
        submitted = subprocess.run(["sbatch", "--parsable", str(plan_dir / "train.sbatch")], env=env,
                                   capture_output=True, text=True, timeout=60)  # fmt: skip
        assert submitted.returncode == 0, submitted.stderr
        job = submitted.stdout.strip().split(";")[0]
        watched = _cli("runs", "watch", f"slurm-{job}", "--plain", "--wait", "120", "--timeout", "900",
                       env=env, timeout=1200)  # fmt: skip
        state = job_state(env, job)
    record = next(Path(os.environ["KOHYAWIZ_HOME"], "runs").glob(f"*-slurm-{job}"))
    log = (record / "train.log").read_text(errors="replace")[-3000:]
    assert watched.returncode == 0, watched.stdout + watched.stderr + log
    assert state == "COMPLETED"
    assert "--machine_rank" in (record / "argv.json").read_text()
    return json.loads((record / "outcome.json").read_text())


@SLURM_OPT_IN
def test_a_real_slurm_runs_the_exported_script_and_its_log_comes_back(tmp_path):
    odd = tmp_path / "a plan's folder"  # a space and a quote in every path the script names
    odd.mkdir()
    outcome = _train_on_slurm(tmp_path, _plan(odd), str(FAKE), sys.executable,
                              {"KOHYAWIZ_FAKE_LOG": str(LOG), "KOHYAWIZ_FAKE_DELAY": "0.01"})  # fmt: skip
    assert outcome["status"] == "completed" and outcome["final_step"] == outcome["total_steps"] == 8
    assert outcome["outputs"] and all(not o.get("mismatches") for o in outcome["outputs"])


REAL = ("KOHYAWIZ_SD_SCRIPTS", "KOHYAWIZ_SD_PYTHON", "KOHYAWIZ_E2E_MODEL", "KOHYAWIZ_E2E_TOKENIZERS")


@SLURM_OPT_IN
@pytest.mark.sdscripts
@pytest.mark.skipif(not all(os.environ.get(v) for v in REAL), reason="set " + ", ".join(REAL))
def test_the_real_sd_scripts_trains_through_slurm(tmp_path):
    """The tiny SD1.5 of shared/sd-scripts' harness, 4 steps on CPU, through sbatch, srun and accelerate."""
    make_folder(tmp_path / "data", "1_tinyconcept", [(64, 64)] * 4, "tinyconcept, square")
    request = PlanRequest(
        out_dir=tmp_path / "plan",
        answers={"subject": "concept", "vram_gb": 12, "model": {"family": "sd1", "path": os.environ["KOHYAWIZ_E2E_MODEL"]}},
        dataset=tmp_path / "data",
        overrides={
            "resolution": "64", "min_bucket_reso": "64", "max_bucket_reso": "128", "max_train_epochs": "1",
            "mixed_precision": "no", "save_precision": "float", "max_data_loader_n_workers": "0",
            "persistent_data_loader_workers": "false", "tokenizer_cache_dir": os.environ["KOHYAWIZ_E2E_TOKENIZERS"],
        },
        force=True,
    )  # fmt: skip
    plan, _ = plan_from_request(request)
    write_plan(plan)
    offline = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "CUDA_VISIBLE_DEVICES": ""}
    outcome = _train_on_slurm(tmp_path, tmp_path / "plan", os.environ["KOHYAWIZ_SD_SCRIPTS"],
                              os.environ["KOHYAWIZ_SD_PYTHON"], offline)  # fmt: skip
    assert outcome["status"] == "completed" and outcome["final_step"] == outcome["total_steps"] == 4
    assert Path(outcome["outputs"][-1]["path"]).is_file() and outcome["outputs"][-1]["mismatches"] == []


def test_the_setup_script_installs_like_sd_scripts_install_and_again_changes_nothing(tmp_path):
    """SkyPilot's setup, run here on a stand-in sd-scripts repository (no network: torch is
    replaced by a requirement already in the venv)."""
    from kohyawiz.run.sdscripts.install import install_script

    source = tmp_path / "upstream"
    source.mkdir()
    (source / "train_network.py").write_text("def setup_parser():\n    return None\n")
    (source / "requirements.txt").write_text("")
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-C", str(source)]
    for step in (["init", "-q"], ["add", "."], ["commit", "-q", "-m", "stand-in"]):
        subprocess.run([*git, *step], check=True, capture_output=True)
    commit = subprocess.run([*git, "rev-parse", "HEAD"], check=True, capture_output=True, text=True).stdout.strip()
    script = install_script(str(tmp_path / "sd scripts"), ref=commit, source=str(source), torch="--no-index pip")
    for attempt in (1, 2):
        run = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=300)
        assert run.returncode == 0, (attempt, run.stdout[-1500:], run.stderr[-1500:])
    into = tmp_path / "sd scripts"
    assert (into / "venv" / "bin" / "python").is_file() and (into / "venv" / ".kohyawiz-installed").is_file()
    head = subprocess.run(["git", "-C", str(into), "rev-parse", "HEAD"], capture_output=True, text=True).stdout
    assert head.strip() == commit


def test_sky_logs_keep_the_head_node_without_its_prefix():
    from kohyawiz.run import logparse
    from kohyawiz.run.watch import NodePrefixes

    text = LOG.read_text()
    pieces = [p for p in __import__("re").split(r"(\r|\n)", text) if p]
    mixed = "".join(
        p if p in "\r\n" else f"\x1b[36m(head, rank=0, pid=42)\x1b[0m {p}" + ("" if i % 3 else f"\n(worker1, rank=1, pid=7, ip=10.0.0.2) {p}")
        for i, p in enumerate(pieces)
    )  # fmt: skip
    nodes = NodePrefixes()
    kept = "".join(nodes.feed(mixed[i : i + 1000]) for i in range(0, len(mixed), 1000)) + nodes.close()
    plain = logparse.LogParser()
    expected = [logparse.event_record(e) for e in plain.feed(text) + plain.close()]
    parser = logparse.LogParser()
    assert [logparse.event_record(e) for e in parser.feed(kept) + parser.close()] == expected
    assert "rank=1" not in kept and "(head" not in kept
    assert NodePrefixes().feed("(not a prefix) steps: 1\n") == "(not a prefix) steps: 1\n"


def test_export_slurm_asks_the_checkout_first(tmp_path):
    """The nodes run this checkout in this environment, so its preflight (and sd-scripts' own parser) runs now."""
    plan_dir = _plan(tmp_path)
    for image in (tmp_path / "train" / "10_hero").glob("*"):
        image.unlink()
    run = _cli("export", str(plan_dir), "--slurm", "--sd-scripts", str(FAKE), "--python", sys.executable)
    assert run.returncode != 0 and run.stderr.count("\n") == 1 and "preflight" in run.stderr, run.stderr
    assert not (plan_dir / "train.sbatch").exists()


@SLURM_OPT_IN
def test_a_cancelled_slurm_job_ends_its_watch(tmp_path):
    from tests.slurm_cluster import available, single_node_slurm

    if (problem := available()) is not None:
        pytest.skip(problem)
    plan_dir = _plan(tmp_path)
    assert _cli("export", str(plan_dir), "--slurm", "--gpus-per-node", "0", "--sd-scripts", str(FAKE),
                "--python", sys.executable).returncode == 0  # fmt: skip
    with single_node_slurm(tmp_path / "slurm") as env:
        env = {**env, "KOHYAWIZ_FAKE_LOG": str(LOG), "KOHYAWIZ_FAKE_DELAY": "1"}
        job = subprocess.run(["sbatch", "--parsable", str(plan_dir / "train.sbatch")], env=env, capture_output=True,
                             text=True, timeout=60).stdout.strip().split(";")[0]  # fmt: skip
        watch = subprocess.Popen([sys.executable, "-m", "kohyawiz", "runs", "watch", f"slurm-{job}", "--plain",
                                  "--wait", "60", "--timeout", "300"], env=env, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True)  # fmt: skip
        runs = Path(os.environ["KOHYAWIZ_HOME"], "runs")
        deadline = time.monotonic() + 60
        while not any((r / "train.log").is_file() for r in runs.glob(f"*-slurm-{job}")) and time.monotonic() < deadline:
            time.sleep(0.5)
        time.sleep(3)
        subprocess.run(["scancel", job], env=env, check=True, timeout=30)
        out, err = watch.communicate(timeout=120)
    record = next(runs.glob(f"*-slurm-{job}"))
    outcome = json.loads((record / "outcome.json").read_text())
    assert watch.returncode == 1 and outcome["status"] == "interrupted", out + err
    assert f"slurm-{job}.out" in out and (runs / f"slurm-{job}.out").is_file()
    assert int((record / "exit_status").read_text()) != 0


def test_every_node_local_path_of_a_multi_node_plan_is_named_at_once(tmp_path):
    """Model, image folder, plan folder and the run records under /tmp: one export names them all,
    not only the first (which left the person to find the others one export at a time)."""
    from kohyawiz.run.slurm import node_local_paths

    folder = PlanFolder.load(_plan(tmp_path, gpus=8, nodes=2))
    local = node_local_paths(folder, tmp_path / "home" / "runs")
    assert str(tmp_path / "models" / "base.safetensors") in local and str(tmp_path / "plan") in local
    assert any(p.startswith(str(tmp_path / "train")) for p in local) and str(tmp_path / "home" / "runs") in local
    slurm = _cli("export", str(tmp_path / "plan"), "--slurm", "--sd-scripts", str(FAKE), "--python", sys.executable)
    assert slurm.returncode == 0, slurm.stderr
    warned = [line for line in slurm.stdout.splitlines() if "node-local" in line]
    assert len(warned) == 1 and all(p in warned[0] for p in local)
