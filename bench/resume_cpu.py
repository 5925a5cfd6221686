"""Kill and resume a real sd-scripts run on CPU through `kohyawiz train`, twice, and print what
each launch did: the run's steps, sd-scripts' own count in train_state.json, the LR scheduler's
step in each saved state, and the checkpoints at the end (issue 22).

The plan: the harness dataset's 4 images at 1 repeat (copied into a `1_` folder; the originals
are never touched), 3 epochs of 4 steps, a checkpoint and a state every epoch. Each of the first
two launches is stopped (Ctrl+C, as a person would) once the step after its first saved state has
started; each resume comes from the ledger (`resume_point`).

    flock /work/sd/heavy.lock env SD_SCRIPTS=/work/sd/sd-scripts SD_PYTHON=/work/sd/venv/bin/python \\
        MODEL_DIR=/work/sd/models/tiny-sd15 TOKENIZER_CACHE_DIR=/work/sd/models/tokenizer_cache \\
        DATASET_DIR=/work/sd/dataset python bench/resume_cpu.py [--validate]
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kohyawiz.assemble import PlanRequest, plan_from_request
from kohyawiz.emit import write_plan
from kohyawiz.run import logparse
from kohyawiz.run.process import StopRequest, capture
from kohyawiz.run.records.history import RunHistory, read_history
from kohyawiz.run.sdscripts.locate import SdScripts, find_sd_scripts
from kohyawiz.run.train import Outcome, PlanFolder, preflight, resume_point, train

CPU_OVERRIDES = {
    "resolution": "64", "min_bucket_reso": "64", "max_bucket_reso": "128", "max_train_epochs": "3",
    "save_every_n_epochs": "1", "mixed_precision": "no", "save_precision": "float",
    "max_data_loader_n_workers": "0", "persistent_data_loader_workers": "false",
}  # fmt: skip
SCHEDULER_STEP = "import sys, torch; print(torch.load(sys.argv[1], weights_only=False)['last_epoch'])"


@dataclass
class Launch:
    outcome: Outcome
    record: Path
    seconds: float
    resumed_at: int | None


@dataclass
class Result:
    plan: PlanFolder
    launches: list[Launch] = field(default_factory=list)
    history: RunHistory | None = None


class StopAfterFirstState:
    """Asks the run to stop once a step after its first saved state has begun: the state is whole."""

    def __init__(self, stop: StopRequest) -> None:
        self.stop = stop
        self.state_at: int | None = None

    def __call__(self, event: logparse.Event) -> None:
        if isinstance(event, logparse.StateSaved) and self.state_at is None:
            self.state_at = -1
        elif isinstance(event, logparse.Progress) and self.state_at == -1:
            self.state_at = event.step
        elif isinstance(event, logparse.Progress) and self.state_at is not None and event.step > self.state_at:
            self.stop.request()


def make_plan(work: Path, env: dict[str, str], validation: bool) -> PlanFolder:
    data = work / "dataset" / "1_tinyconcept"
    source = next(Path(env["DATASET_DIR"]).iterdir())
    shutil.copytree(source, data)
    request = PlanRequest(
        out_dir=work / "plan",
        answers={"subject": "concept", "vram_gb": 12, "save_state": True, "validation": validation,
                 "model": {"family": "sd1", "path": env["MODEL_DIR"]}},
        dataset=work / "dataset",
        overrides={**CPU_OVERRIDES, "tokenizer_cache_dir": env["TOKENIZER_CACHE_DIR"]},
        force=True,
    )  # fmt: skip
    plan, _ = plan_from_request(request)
    write_plan(plan)
    return PlanFolder.load(work / "plan")


def kill_twice(work: Path, env: dict[str, str], *, validation: bool = False) -> Result:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ["CUDA_VISIBLE_DEVICES"] = ""
    sd = find_sd_scripts(env["SD_SCRIPTS"], env["SD_PYTHON"])
    result = Result(make_plan(work, env, validation))
    problems = preflight(result.plan, sd).errors
    if problems:
        raise SystemExit(f"preflight failed: {problems[0]}")
    resume = None
    for stop_early in (True, True, False):
        stop = StopRequest()
        start = time.monotonic()
        watch = StopAfterFirstState(stop) if stop_early else None
        outcome, record = train(result.plan, sd, resume=resume, on_event=watch, stop=stop)
        result.launches.append(Launch(outcome, record.folder, time.monotonic() - start, resume and resume.step))
        if stop_early:
            resume = resume_point(result.plan)
    result.history = read_history(result.launches[-1].record)
    return result


def scheduler_step(sd: SdScripts, state: Path) -> str:
    code, out = capture([str(sd.python), "-c", SCHEDULER_STEP, str(state / "scheduler.bin")], timeout_s=120)
    return out.strip().splitlines()[-1] if code == 0 and out.strip() else "unreadable"


def report(result: Result, sd: SdScripts) -> None:
    total = result.plan.plan["figures"]["total_steps"]
    for index, launch in enumerate(result.launches, 1):
        out = launch.outcome
        print(
            f"launch {index}: {out.status}, resumed at step {launch.resumed_at or 0}, reached step "
            f"{out.final_step} of {out.total_steps} (plan {total}), {launch.seconds:.0f} s; record {launch.record.name}"
        )
        for state in out.states:
            folder = Path(state["path"])
            own: Any = "missing"
            if (folder / "train_state.json").is_file():
                own = json.loads((folder / "train_state.json").read_text())
            print(
                f"  state {folder.name}: the run's step {state['step']}; sd-scripts' train_state.json says {own}; "
                f"LR scheduler at step {scheduler_step(sd, folder) if folder.is_dir() else 'gone'}"
            )
    history = result.history
    assert history is not None
    print(
        f"one run: {history.status}, step {history.final_step}/{history.total_steps}, launches {len(history.segments)}"
    )
    for checkpoint in history.checkpoints:
        print(
            f"  checkpoint epoch {checkpoint.epoch} step {checkpoint.step}: {Path(checkpoint.path).name}, "
            f"validation loss {checkpoint.validation_loss}"
        )
    print(f"  validation passes (epoch, step, loss): {history.validation}")
    print(f"  pick ({history.pick_loss} loss): {history.pick_reason}")
    output = Path(str(result.plan.arg("output_dir")))
    print(f"  files: {sorted(p.name for p in output.iterdir())}")


def main(argv: list[str]) -> None:
    env = dict(os.environ)
    work = Path(tempfile.mkdtemp(prefix="kohyawiz-resume-"))
    os.environ.setdefault("KOHYAWIZ_HOME", str(work / "home"))
    result = kill_twice(work, env, validation="--validate" in argv)
    report(result, find_sd_scripts(env["SD_SCRIPTS"], env["SD_PYTHON"]))


if __name__ == "__main__":
    main(sys.argv[1:])
