"""A-LOSS: the loss value itself means little; a sudden large shift late in training, after a long
stable stretch, means overtraining or a failure (guide part 5)."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass

LATE_FRACTION = 0.5
"""Only the second half of a run counts as late."""
SHIFT_RATIO = 0.5
"""A shift of half the stable level or more is large."""
NOISE_MULTIPLE = 6.0
"""...and it must also stand far outside the stable stretch's own wobble."""


@dataclass(frozen=True)
class LossShift:
    step: int
    before: float
    after: float
    saved_epoch: int | None
    """The last epoch saved before the shift: the checkpoint to go back to."""

    def message(self) -> str:
        where = (
            f"epoch {self.saved_epoch} was saved before it" if self.saved_epoch else "no checkpoint was saved before it"
        )
        return (
            f"loss moved from about {self.before:.4g} to {self.after:.4g} at step {self.step} after a long stable "
            f"stretch: overtraining or a failure; {where}"
        )


def moving_average(values: Sequence[float], width: int) -> list[float]:
    """The mean of each value and the `width - 1` before it (fewer at the start)."""
    out, total = [], 0.0
    for index, value in enumerate(values):
        total += value
        if index >= width:
            total -= values[index - width]
        out.append(total / min(index + 1, width))
    return out


def detect_loss_shift(
    points: Sequence[tuple[int, float]], saves: Sequence[tuple[int, int]] = (), total_steps: int | None = None
) -> LossShift | None:
    """First sudden shift of the smoothed loss in the late part of a run.

    `points` are (step, loss); `saves` are (epoch, step) of saved checkpoints.
    """
    clean = [(s, v) for s, v in points if v == v and abs(v) != float("inf")]
    if len(clean) < 40:
        return None
    steps = [s for s, _ in clean]
    width = max(5, len(clean) // 50)
    smooth = moving_average([v for _, v in clean], width)
    stable = max(20, len(clean) // 5)
    last = total_steps or steps[-1]
    for index in range(stable + width, len(clean) - width):
        if steps[index] < LATE_FRACTION * last:
            continue
        window = smooth[index - stable - width : index - width]
        level = statistics.fmean(window)
        wobble = statistics.pstdev(window)
        ahead = smooth[index + width - 1]
        if abs(ahead - level) > max(SHIFT_RATIO * abs(level), NOISE_MULTIPLE * wobble):
            step = steps[index]
            saved = [epoch for epoch, at in saves if at < step]
            return LossShift(step, level, ahead, max(saved) if saved else None)
    return None


SPARK = "▁▂▃▄▅▆▇█"


def sparkline(values: list[float], width: int = 30) -> str:
    """The last `width` values as block characters, low to high."""
    if not values:
        return ""
    tail = values[-width:]
    low, high = min(tail), max(tail)
    span = (high - low) or 1.0
    return "".join(SPARK[min(len(SPARK) - 1, int((v - low) / span * (len(SPARK) - 1)))] for v in tail)
