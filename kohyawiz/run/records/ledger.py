"""The ledger kohyawiz keeps for a run across its resumes (issue 22).

sd-scripts' own count cannot be trusted once a run has been resumed: train_network.py writes the
resumed process's own step into train_state.json (a state saved at the run's step 8 says 4 after
one resume), and its step counter restarts at the step within the epoch. So each run record keeps
`ledger.json` (the plan folder, the step the record started at, the state it resumed from), and
its events carry the run's own step (`run_step`) next to the log's: which saved state belongs to
which step is read from there, and a resume passes that step to sd-scripts itself.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kohyawiz.emit import write_atomic
from kohyawiz.run.records.record import list_runs, read_events, read_json

LEDGER = "ledger.json"
_EPOCH_STATE = re.compile(r"^saving state at epoch (\d+)")
_STEP_STATE = re.compile(r"^saving state at step (\d+)")


@dataclass(frozen=True)
class ResumePoint:
    """A saved state and the optimizer step of the run it holds."""

    state: Path
    step: int
    epoch: int | None = None
    run: str | None = None
    """The record that saved it (None when it was found on disk only)."""
    found_by: str = "the run's ledger"


@dataclass(frozen=True)
class SavedState:
    path: str
    step: int
    epoch: int | None
    complete: bool
    """A later line was logged (or the run finished): sd-scripts was done writing it."""


@dataclass
class Segment:
    """One record: one launch of sd-scripts, the first of a run or a resume."""

    folder: Path
    plan_dir: str | None
    start_step: int
    resumed_from: dict[str, Any] | None
    status: str
    steps_done: int | None
    """The run's step reached by this launch."""
    epochs_done: int | None
    states: list[SavedState] = field(default_factory=list)

    @property
    def id(self) -> str:
        return self.folder.name

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id, "plan_dir": self.plan_dir, "start_step": self.start_step,
            "resumed_from": self.resumed_from, "status": self.status, "steps_done": self.steps_done,
            "epochs_done": self.epochs_done, "states": [s.__dict__ for s in self.states],
        }  # fmt: skip


def state_path(text: str, output_dir: Path, output_name: str) -> Path:
    """The folder sd-scripts saves a state in (library/train_util.py EPOCH_STATE_NAME,
    STEP_STATE_NAME, LAST_STATE_NAME), from its `saving state ...` line."""
    if match := _EPOCH_STATE.match(text):
        return output_dir / f"{output_name}-{int(match.group(1)):06d}-state"
    if match := _STEP_STATE.match(text):
        return output_dir / f"{output_name}-step{int(match.group(1)):08d}-state"
    return output_dir / f"{output_name}-state"


def write_start(folder: Path, plan_dir: Path, resume: ResumePoint | None) -> None:
    resumed = None if resume is None else {"run": resume.run, "state": str(resume.state), "step": resume.step}
    start = 0 if resume is None else resume.step
    write_atomic(folder / LEDGER, json.dumps({"plan_dir": str(plan_dir), "start_step": start,
                                              "resumed_from": resumed}, indent=2) + "\n")  # fmt: skip


def _int(value: Any) -> int | None:
    return int(value) if isinstance(value, int) and not isinstance(value, bool) else None


def read_segment(folder: Path) -> Segment:
    ledger = read_json(folder / LEDGER, {})
    ledger = ledger if isinstance(ledger, dict) else {}
    outcome = read_json(folder / "outcome.json", {})
    outcome = outcome if isinstance(outcome, dict) else {}
    status = str(outcome.get("status") or "running or stopped without a word")
    start = _int(ledger.get("start_step")) or 0
    events = read_events(folder)
    renamed = renames(events)
    states: list[SavedState] = []
    reached, epoch, finished_epochs = None, None, 0
    for index, event in enumerate(events):
        kind = event.get("event")
        step = _int(event.get("run_step"))
        if kind == "Progress" and step is not None:
            reached = step
        elif kind == "EpochStarted" and _int(event.get("epoch")) is not None:
            epoch = int(event["epoch"])
            finished_epochs = epoch - 1
        elif kind == "StateSaved" and isinstance(event.get("path"), str) and step is not None:
            later = index + 1 < len(events) or status == "completed"
            path = renamed.get(event["path"], event["path"])
            states.append(SavedState(path, step, _int(event.get("epoch")), later))
    if status == "completed" and epoch is not None:
        finished_epochs = epoch
    resumed = ledger.get("resumed_from")
    return Segment(
        folder, ledger.get("plan_dir") if isinstance(ledger.get("plan_dir"), str) else None, start,
        resumed if isinstance(resumed, dict) else None, status, reached, finished_epochs if epoch else None, states,
    )  # fmt: skip


def renames(events: list[dict[str, Any]]) -> dict[str, str]:
    """Files kohyawiz renamed after a launch (kohyawiz.run.renumber): old path -> new path."""
    pairs = [(e.get("from"), e.get("to")) for e in events if e.get("event") == "Renamed"]
    return {old: new for old, new in pairs if isinstance(old, str) and isinstance(new, str)}


def segments_for(plan_dir: Path) -> list[Segment]:
    """Every record of this plan folder, oldest first."""
    wanted = str(plan_dir)
    found = []
    for folder in list_runs():
        ledger = read_json(folder / LEDGER, {})
        if isinstance(ledger, dict) and ledger.get("plan_dir") == wanted:
            found.append(read_segment(folder))
    return found


def newest_state(plan_dir: Path) -> ResumePoint | None:
    """The complete saved state at the highest step that still exists, among the records of this
    plan since it was last trained from the start (a fresh start saves over the older run's files)."""
    segments = segments_for(plan_dir)
    fresh = [index for index, segment in enumerate(segments) if not segment.resumed_from]
    best: ResumePoint | None = None
    for segment in segments[fresh[-1] if fresh else 0 :]:
        for state in segment.states:
            if state.complete and Path(state.path).is_dir() and (best is None or state.step >= best.step):
                best = ResumePoint(Path(state.path), state.step, state.epoch, segment.id)
    return best


def _resumed_from(folder: Path) -> str | None:
    ledger = read_json(folder / LEDGER, {})
    resumed = ledger.get("resumed_from") if isinstance(ledger, dict) else None
    run = resumed.get("run") if isinstance(resumed, dict) else None
    return run if isinstance(run, str) else None


def chain(folder: Path) -> list[Segment]:
    """The run `folder` belongs to, across its resumes: each record and the one resumed from it,
    oldest first. A record resumed more than once (a resume that was itself abandoned) continues
    with its newest resume. Only ledgers are read to follow the links."""
    folders = {p.name: p for p in list_runs()}
    folders.setdefault(folder.name, folder)
    parent = {name: _resumed_from(path) for name, path in folders.items()}
    run, seen = [folder.name], {folder.name}
    while (previous := parent.get(run[0])) in folders and previous not in seen:
        seen.add(previous)
        run.insert(0, previous)
    while later := sorted(n for n, p in parent.items() if p == run[-1] and n not in seen):
        seen.add(later[-1])
        run.append(later[-1])
    return [read_segment(folders[name]) for name in run]
