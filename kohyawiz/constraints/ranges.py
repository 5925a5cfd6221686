"""Numbers sd-scripts divides by, counts with or hands to torch, which stop a run when they are out
of range (train_network.py, library/train_util.py)."""

from __future__ import annotations

from kohyawiz.constraints.base import Checker, constraint
from kohyawiz.values import parse_resolution

# key: (lowest, highest or None, what goes wrong outside)
RANGES: dict[str, tuple[float, float | None, str]] = {
    "gradient_accumulation_steps": (1, 1024, "sd-scripts divides the steps per epoch by it"),
    "max_train_epochs": (1, 100_000, "a run of no epochs trains nothing"),
    "max_train_steps": (1, 10_000_000, "a run of no steps trains nothing"),
    "save_every_n_epochs": (1, None, "sd-scripts takes the epoch number modulo it: 0 stops the run"),
    "save_every_n_steps": (1, None, "sd-scripts takes the step number modulo it: 0 stops the run"),
    "network_dim": (1, 100_000, "a network of rank 0 has nothing to train"),
    "max_data_loader_n_workers": (0, 1024, "torch's DataLoader refuses a negative number of workers"),
    "lr_warmup_steps": (0, 10_000_000, "a negative warmup breaks the learning-rate schedule"),
    "train_batch_size": (1, 1024, "the batch is the images of one step"),
    "learning_rate": (0, 1000, "a negative learning rate trains backwards"),
    "min_snr_gamma": (0, 1000, "a negative gamma turns the loss weights around"),
    "noise_offset": (0, 1, "noise offset is a small positive fraction"),
    "caption_dropout_rate": (0, 1, "it is a probability"),
    "caption_tag_dropout_rate": (0, 1, "it is a probability"),
    "min_bucket_reso": (1, 8192, "buckets are cut on a pixel grid between the smallest and largest side"),
    "max_bucket_reso": (64, 16384, "buckets are cut on a pixel grid between the smallest and largest side"),
    "bucket_reso_steps": (1, 1024, "the bucket grid's step in pixels"),
    "lr_scheduler_num_cycles": (1, 100_000, "the schedule's restarts"),
    "save_last_n_epochs": (0, 100_000, "how many checkpoints are kept"),
    "save_last_n_steps": (0, 10_000_000, "how many steps of checkpoints are kept"),
}


def range_problem(key: str, value: object) -> str | None:
    """The refusal for one number out of its range, or None: checked as soon as a value is set,
    before any rule or loop depends on it."""
    if key not in RANGES or isinstance(value, bool) or not isinstance(value, int | float):
        return None
    low, high, why = RANGES[key]
    if high is not None and value > high:
        why = "far past anything a run uses"  # the reason of the range names what goes wrong below it
    if value != value or value < low or (high is not None and value > high):  # NaN is never in range
        span = f"at least {low:g}" if high is None else f"between {low:g} and {high:g}"
        shown = f"{value:g}" if isinstance(value, float) else str(value) if abs(value) < 10**15 else f"{str(value)[:12]}..."
        return f"{key} {shown} is out of range ({why}): use a value {span}"
    return None


@constraint("C-RANGE", "train_network.py, library/train_util.py",
            "counts, sizes and rates that sd-scripts divides by or hands to torch stay in their range")  # fmt: skip
def numbers_in_range(c: Checker) -> None:
    for key in RANGES:
        problem = range_problem(key, c.value(key))
        if problem is not None:
            message, _, fix = problem.rpartition(": ")
            c.refuse("C-RANGE", message, fix)
            return
    try:
        width, height = parse_resolution(c.value("resolution", "512"))
    except (ValueError, TypeError):
        return
    if (problem := resolution_problem(width, height)) is not None:
        c.refuse("C-RANGE", problem, "use sides between 64 and 8192 px")


def resolution_problem(width: int, height: int) -> str | None:
    if min(width, height) < 64 or max(width, height) > 8192:
        return f"resolution {width}x{height} is out of range"
    return None


@constraint("C-TRAIN-PARTS", "train_network.py / sdxl_train_network.py",
            "something must train: not UNet-only and text-encoder-only at once, nor text encoders whose outputs are cached")  # fmt: skip
def something_trains(c: Checker) -> None:
    if c.on("network_train_unet_only") and c.on("network_train_text_encoder_only"):
        c.resolve("C-TRAIN-PARTS", "network_train_unet_only and network_train_text_encoder_only leave nothing to train",
                  [("network_train_unet_only", None)], stops=True, fix="keep one of them")  # fmt: skip
    cached = [k for k in ("cache_text_encoder_outputs", "cache_text_encoder_outputs_to_disk") if c.on(k)]
    if c.on("network_train_text_encoder_only") and cached:
        c.resolve("C-TRAIN-PARTS", "text-encoder-only training with cached text-encoder outputs trains nothing",
                  [(k, None) for k in cached], stops=True, fix="drop cache_text_encoder_outputs")  # fmt: skip
