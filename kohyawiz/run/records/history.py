"""What a run record says, for a person deciding which checkpoint to keep (guide part 5).

Read from the record's outcome.json, events.jsonl and plan.json: the status and, when it failed,
why and what to do; steps, epochs, loss (last and smoothed); every saved checkpoint with its epoch,
step, the loss around it and the sample images taken with it; the A-LOSS shift; the pick.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kohyawiz.loss import detect_loss_shift, moving_average
from kohyawiz.run.records.ledger import Segment, chain, renames
from kohyawiz.run.records.record import read_events, read_json

SMOOTHING = 20
"""Steps in the moving average of the loss."""
AROUND = 10
"""Steps on each side of a checkpoint whose loss is averaged for it (fewer in short runs)."""
TENSORBOARD_DIR = "tensorboard"
_SAMPLE_NAME = re.compile(r"_(?:e(\d{6})|(\d{6}))_(\d{2})_")


@dataclass
class Checkpoint:
    path: str
    epoch: int | None
    step: int | None
    loss_around: float | None = None
    samples: list[str] = field(default_factory=list)
    final: bool = False
    validation_loss: float | None = None
    """sd-scripts' validation loss measured at this checkpoint's step (K-VALIDATE)."""

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class RunHistory:
    folder: Path
    name: str
    status: str
    reason: str | None
    advice: str | None
    final_step: int | None
    total_steps: int | None
    epoch: int | None
    epochs: int | None
    final_loss: float | None
    smoothed_loss: float | None
    seconds: float | None
    losses: list[tuple[int, float]]
    epoch_starts: list[tuple[int, int]]
    """(epoch, the step it started after)."""
    checkpoints: list[Checkpoint]
    loss_shift: dict[str, Any] | None
    pick: Checkpoint | None
    pick_reason: str
    tensorboard: Path | None
    outputs: list[dict[str, Any]]
    segments: list[Segment] = field(default_factory=list)
    """The records of this run across its resumes, oldest first."""
    validation: list[tuple[int | None, int, float]] = field(default_factory=list)
    """(epoch, step, validation loss) of each validation pass."""
    pick_loss: str = "training"
    """Which loss chose the pick: "validation" or "training"."""

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.folder.name, "folder": str(self.folder), "name": self.name, "status": self.status,
            "reason": self.reason, "advice": self.advice, "final_step": self.final_step,
            "total_steps": self.total_steps, "epoch": self.epoch, "epochs": self.epochs,
            "final_loss": self.final_loss, "smoothed_loss": self.smoothed_loss, "seconds": self.seconds,
            "checkpoints": [c.as_dict() for c in self.checkpoints], "loss_shift": self.loss_shift,
            "pick": self.pick.as_dict() if self.pick else None, "pick_reason": self.pick_reason,
            "tensorboard": str(self.tensorboard) if self.tensorboard else None, "outputs": self.outputs,
            "losses": [list(p) for p in self.losses], "epoch_starts": [list(p) for p in self.epoch_starts],
            "segments": [s.as_dict() for s in self.segments], "pick_loss": self.pick_loss,
            "validation": [list(v) for v in self.validation],
        }  # fmt: skip


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _int(value: Any) -> int | None:
    return int(value) if isinstance(value, int) and not isinstance(value, bool) else None


def read_history(folder: Path) -> RunHistory:
    """One run across its resumes: the steps a later launch trained again (after the state it
    resumed from) replace the earlier launch's."""
    segments = chain(folder)
    last = segments[-1].folder
    outcome = read_json(last / "outcome.json", {})
    outcome = outcome if isinstance(outcome, dict) else {}
    plan = read_json(last / "plan.json", {})
    plan = plan if isinstance(plan, dict) else {}
    losses: dict[int, float] = {}
    epoch_starts: list[tuple[int, int]] = []
    checkpoints: list[Checkpoint] = []
    validation: list[tuple[int | None, int, float]] = []
    for index, segment in enumerate(segments):
        until = segments[index + 1].start_step if index + 1 < len(segments) else None
        _read_segment(segment, until, losses, epoch_starts, checkpoints, validation)
    for checkpoint in checkpoints:
        measured = [loss for _, at, loss in validation if at == checkpoint.step]
        checkpoint.validation_loss = measured[-1] if measured else None
    points = sorted(losses.items())
    seconds = [_number(_dict(read_json(seg.folder / "outcome.json", {})).get("seconds")) for seg in segments]
    if checkpoints and outcome.get("status") == "completed":
        checkpoints[-1].final = True
    window = max(1, min(AROUND, len(points) // 20))
    for checkpoint in checkpoints:
        near = [v for s, v in points if checkpoint.step is not None and abs(s - checkpoint.step) <= window]
        checkpoint.loss_around = sum(near) / len(near) if near else None
    _attach_samples(checkpoints, _sample_files(plan))
    saves = [(c.epoch, c.step) for c in checkpoints if c.epoch is not None and c.step is not None]
    shift = detect_loss_shift(points, saves, _int(outcome.get("total_steps")))
    pick, why, pick_loss = _pick(checkpoints, shift)
    raw_fatal = outcome.get("fatal")
    fatal: list[Any] = raw_fatal if isinstance(raw_fatal, list) else []
    reason, advice = _reason(outcome, fatal)
    smooth = moving_average([v for _, v in points], SMOOTHING)
    board = folder / TENSORBOARD_DIR
    return RunHistory(
        folder=folder, name=str(_plan_arg(plan, "output_name") or folder.name),
        status=str(outcome.get("status") or "running or stopped without a word"),
        reason=reason, advice=advice,
        final_step=_int(outcome.get("final_step")) if _int(outcome.get("final_step")) not in (None, -1) else None,
        total_steps=_int(outcome.get("total_steps")), epoch=_int(outcome.get("epoch")),
        epochs=_int(outcome.get("epochs")), final_loss=_number(outcome.get("final_loss")),
        smoothed_loss=smooth[-1] if smooth else None,
        seconds=sum(x for x in seconds if x is not None) if any(x is not None for x in seconds) else None,
        losses=points, epoch_starts=epoch_starts, checkpoints=checkpoints,
        loss_shift=None if shift is None else {"step": shift.step, "before": shift.before, "after": shift.after,
                                               "saved_epoch": shift.saved_epoch, "message": shift.message()},
        pick=pick, pick_reason=why, tensorboard=board if board.is_dir() else None,
        outputs=[o for o in outcome.get("outputs", []) if isinstance(o, dict)], segments=segments,
        validation=validation, pick_loss=pick_loss,
    )  # fmt: skip


def _read_segment(
    segment: Segment, until: int | None, losses: dict[int, float], epoch_starts: list[tuple[int, int]],
    checkpoints: list[Checkpoint], validation: list[tuple[int | None, int, float]],
) -> None:  # fmt: skip
    """One record's events at the run's steps (`run_step`; the log's own step in older records),
    up to `until`, the step the next launch resumed from."""
    epoch, step, measured = None, segment.start_step, False
    events = read_events(segment.folder)
    renamed = renames(events)
    for event in events:
        kind = event.get("event")
        at = _int(event.get("run_step"))
        if kind == "Progress" and _int(event.get("step")) is not None:
            step = at if at is not None else segment.start_step + int(event["step"])
            if until is not None and step > until:
                return
            loss = _number(event.get("loss"))
            if loss is not None and loss == loss:
                losses[step] = loss  # tqdm redraws a step once its loss is known: keep the last
        elif kind == "EpochStarted" and _int(event.get("epoch")) is not None:
            epoch = int(event["epoch"])
            if not epoch_starts or epoch_starts[-1][0] != epoch:
                epoch_starts.append((epoch, step))
        elif kind == "CheckpointSaved" and isinstance(event.get("path"), str):
            saved_at = at if at is not None else step
            path = renamed.get(event["path"], event["path"])
            checkpoints[:] = [c for c in checkpoints if c.path != path]  # saved again after a resume
            checkpoints.append(Checkpoint(path, epoch, saved_at))
        elif kind == "Validation":
            done, total, loss = _int(event.get("done")), _int(event.get("total")), _number(event.get("loss"))
            if done is not None and total is not None and done < total:
                measured = False  # a pass starts
            elif loss is not None and at is not None:
                entry = (_int(event.get("epoch")), at, loss)
                if measured and validation and validation[-1][:2] == entry[:2]:
                    validation[-1] = entry  # the pass's last draw holds its mean
                else:
                    validation.append(entry)
                measured = True


def _plan_arg(plan: dict[str, Any], key: str) -> Any:
    for decision in plan.get("decisions", []) if isinstance(plan.get("decisions"), list) else []:
        if isinstance(decision, dict) and decision.get("key") == key:
            return decision.get("value")
    return None


def _reason(outcome: dict[str, Any], fatal: list[Any]) -> tuple[str | None, str | None]:
    status = outcome.get("status")
    if status == "completed":
        return None, None
    first = next((f for f in fatal if isinstance(f, dict)), None)
    if first is not None:
        return f"{first.get('kind', 'error')}: {first.get('message', '')}".strip(), first.get("advice")
    if status == "interrupted":
        return "stopped by you (Ctrl+C / Ctrl+S)", "resume with `kohyawiz train DIR --resume` if state was saved"
    code = outcome.get("returncode")
    if status == "failed":
        return f"sd-scripts exited with code {code}", "`kohyawiz runs show ID` has the log's last lines"
    return None, None


def _sample_files(plan: dict[str, Any]) -> list[Path]:
    output = _plan_arg(plan, "output_dir")
    if not isinstance(output, str):
        return []
    folder = Path(output) / "sample"
    try:
        return sorted(p for p in folder.iterdir() if p.suffix.lower() in (".png", ".jpg", ".webp"))
    except OSError:
        return []


def sample_key(path: Path) -> tuple[str, int, int] | None:
    """('epoch', n, prompt) or ('step', n, prompt) from sd-scripts' sample file name."""
    match = _SAMPLE_NAME.search(path.name)
    if not match:
        return None
    if match.group(1):
        return "epoch", int(match.group(1)), int(match.group(3))
    return "step", int(match.group(2)), int(match.group(3))


def _attach_samples(checkpoints: list[Checkpoint], files: list[Path]) -> None:
    for path in files:
        key = sample_key(path)
        if key is None:
            continue
        kind, number, _ = key
        for checkpoint in checkpoints:
            if (kind == "epoch" and checkpoint.epoch == number) or (kind == "step" and checkpoint.step == number):
                checkpoint.samples.append(str(path))
        if kind == "epoch" and checkpoints and checkpoints[-1].final and number > (checkpoints[-1].epoch or 0):
            checkpoints[-1].samples.append(str(path))


def _pick(checkpoints: list[Checkpoint], shift: Any) -> tuple[Checkpoint | None, str, str]:
    """Guide part 5: keep checkpoints and choose. With validation losses (K-VALIDATE), the one with
    the lowest; otherwise the last. After a late loss shift (A-LOSS) only those saved before it."""
    if not checkpoints:
        return None, "no checkpoint was saved", "training"
    candidates, before_shift = checkpoints, ""
    if shift is not None:
        candidates = [c for c in checkpoints if c.step is not None and c.step < shift.step]
        before_shift = f" saved before the loss shift at step {shift.step} (A-LOSS)"
        if not candidates:
            return None, f"the loss shifted at step {shift.step}, before any checkpoint was saved (A-LOSS)", "training"
    measured = [c for c in candidates if c.validation_loss is not None]
    if len(measured) >= 2:
        best = min(measured, key=lambda c: (c.validation_loss, -(c.step or 0)))
        where = f"epoch {best.epoch}" if best.epoch is not None else f"step {best.step}"
        return best, (
            f"by validation loss: the lowest ({best.validation_loss:.4g}, {where}) of the {len(measured)} "
            f"checkpoints measured{before_shift}"
        ), "validation"
    if shift is not None:
        return candidates[-1], f"by training loss: the last one{before_shift}", "training"
    return checkpoints[-1], (
        "by training loss (no validation loss): no late loss shift, so the last one; compare its samples with "
        "the two or three before it"
    ), "training"
