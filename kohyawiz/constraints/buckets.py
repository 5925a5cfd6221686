"""Aspect-ratio buckets and fixed-size training (library/train_util.py BaseDataset,
DreamBoothDataset.__getitem__, verify_bucket_reso_steps)."""

from __future__ import annotations

from kohyawiz.constraints.base import Checker, constraint
from kohyawiz.values import parse_resolution


def _resolution(c: Checker) -> tuple[int, int] | None:
    try:
        return parse_resolution(c.value("resolution", "512"))
    except ValueError:
        return None


@constraint("C-BUCKET-RANGE", "library/train_util.py adjust_min_max_bucket_reso_by_steps",
            "bucket sides are rounded to bucket_reso_steps and must bracket the resolution")  # fmt: skip
def bucket_range(c: Checker) -> None:
    reso = _resolution(c)
    if reso is None or not c.value("enable_bucket", False):
        return
    steps = int(c.number("bucket_reso_steps", 64)) or 64
    low, high = int(c.number("min_bucket_reso", 256)), int(c.number("max_bucket_reso", 1024))
    if low < steps:
        c.resolve("C-BUCKET-RANGE", f"min_bucket_reso {low} is below one step of the bucket grid ({steps} px): "
                  "sd-scripts rounds it down to 0 and divides by it", [("min_bucket_reso", steps)], stops=True,
                  fix=f"set min_bucket_reso={steps} or more")  # fmt: skip
        return
    if low % steps:
        c.resolve("C-BUCKET-RANGE", f"min_bucket_reso {low} is not a multiple of bucket_reso_steps {steps}",
                  [("min_bucket_reso", low - low % steps)], stops=False,
                  fix=f"sd-scripts lowers it to {low - low % steps}")  # fmt: skip
        low = low - low % steps
    if high % steps:
        up = high + steps - high % steps
        c.resolve("C-BUCKET-RANGE", f"max_bucket_reso {high} is not a multiple of bucket_reso_steps {steps}",
                  [("max_bucket_reso", up)], stops=False, fix=f"sd-scripts raises it to {up}")  # fmt: skip
        high = up
    if min(reso) < low:
        fixed = min(reso) - min(reso) % steps
        c.resolve("C-BUCKET-RANGE", f"min_bucket_reso {low} is above the resolution's smaller side {min(reso)}",
                  [("min_bucket_reso", fixed)], stops=True, fix=f"set min_bucket_reso={fixed} or less")  # fmt: skip
    if max(reso) > high:
        c.resolve("C-BUCKET-RANGE", f"max_bucket_reso {high} is below the resolution's larger side {max(reso)}",
                  [("max_bucket_reso", max(reso))], stops=True, fix=f"set max_bucket_reso={max(reso)} or more")  # fmt: skip
    if c.on("bucket_no_upscale") and (c.explicit("min_bucket_reso") or c.explicit("max_bucket_reso")):
        c.warn("C-BUCKET-RANGE", "bucket_no_upscale makes sd-scripts ignore min_bucket_reso and max_bucket_reso")


@constraint("C-BUCKET-STEPS", "train_network.py / sdxl_train_network.py assert_extra_args (verify_bucket_reso_steps)",
            "bucket_reso_steps must divide by 64 (SD1/SD2) or 32 (SDXL)")  # fmt: skip
def bucket_steps_divisor(c: Checker) -> None:
    steps = int(c.number("bucket_reso_steps", 64))
    if c.value("enable_bucket", False) and (steps <= 0 or steps % c.bucket_divisor):
        c.resolve("C-BUCKET-STEPS", f"bucket_reso_steps {steps} is not a multiple of {c.bucket_divisor}",
                  [("bucket_reso_steps", 64)], stops=True, fix=f"use a multiple of {c.bucket_divisor}, e.g. 64")  # fmt: skip


@constraint("C-NO-BUCKET", "library/train_util.py DreamBoothDataset.__getitem__",
            "without buckets every image must already be the training size (larger ones only with random_crop)")  # fmt: skip
def fixed_size_training(c: Checker) -> None:
    reso = _resolution(c)
    if reso is None or c.value("enable_bucket", False):
        return
    if c.image_sizes is None:
        c.warn("C-NO-BUCKET", f"buckets are off: every image must be exactly {reso[0]}x{reso[1]} "
                              "(or larger with random_crop), or sd-scripts stops on it")  # fmt: skip
        return
    width, height = reso
    small = [s for s in c.image_sizes if s[0] < width or s[1] < height]
    large = [s for s in c.image_sizes if (s[0] > width or s[1] > height) and s not in small]
    if small:
        c.refuse("C-NO-BUCKET", f"buckets are off and {len(small)} images are smaller than {width}x{height}",
                 "turn enable_bucket back on, or resize them")  # fmt: skip
    elif large and not c.on("random_crop"):
        c.refuse("C-NO-BUCKET", f"buckets are off and {len(large)} images are larger than {width}x{height}",
                 "turn enable_bucket back on, set random_crop=true, or crop them")  # fmt: skip
