"""sd-scripts' aspect-ratio buckets, reimplemented so kohyawiz counts steps as sd-scripts does.

The arithmetic follows sd-scripts' BucketManager and dataset preparation: images (times their
repeats) are sorted into buckets by aspect ratio, each bucket is cut into batches, and an epoch
is the total number of batches.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass


@dataclass(frozen=True)
class BucketSettings:
    resolution: tuple[int, int]
    enable_bucket: bool = False
    min_bucket_reso: int = 256
    max_bucket_reso: int = 1024
    bucket_reso_steps: int = 64
    bucket_no_upscale: bool = False
    batch_size: int = 1

    def adjusted(self) -> BucketSettings:
        """Bucket limits moved onto the step grid, as sd-scripts does with a warning."""
        steps = self.bucket_reso_steps
        low = self.min_bucket_reso - self.min_bucket_reso % steps
        high = self.max_bucket_reso
        if high % steps:
            high += steps - high % steps
        return BucketSettings(
            self.resolution, self.enable_bucket, low, high, steps, self.bucket_no_upscale, self.batch_size
        )

    def problems(self) -> list[str]:
        """What sd-scripts would stop on with these settings."""
        out = []
        if self.enable_bucket:
            adjusted = self.adjusted()
            if min(self.resolution) < adjusted.min_bucket_reso:
                out.append(f"min_bucket_reso {adjusted.min_bucket_reso} is above the resolution's smaller side")
            if max(self.resolution) > adjusted.max_bucket_reso:
                out.append(f"max_bucket_reso {adjusted.max_bucket_reso} is below the resolution's larger side")
        if self.batch_size < 1:
            out.append("batch size must be at least 1")
        return out


def bucket_resolutions(
    max_reso: tuple[int, int], min_size: int, max_size: int, divisible: int
) -> list[tuple[int, int]]:
    """The predefined buckets: every width on the grid, paired with the tallest height that keeps
    the area at most the training area (and the transposes), plus the square."""
    max_area = max_reso[0] * max_reso[1]
    if divisible < 1 or min_size < divisible or max_size > 65536:
        raise ValueError(f"bucket sides {min_size}-{max_size} on a {divisible} px grid cannot be cut into buckets")
    resos = {(int(math.sqrt(max_area) // divisible) * divisible,) * 2}
    width = min_size
    while width <= max_size:
        height = min(max_size, int((max_area // width) // divisible) * divisible)
        if height >= min_size:
            resos.add((width, height))
            resos.add((height, width))
        width += divisible
    return sorted(resos)


class BucketAssigner:
    def __init__(self, settings: BucketSettings) -> None:
        self.settings = settings.adjusted() if settings.enable_bucket else settings
        s = self.settings
        self.max_area = s.resolution[0] * s.resolution[1]
        if not s.enable_bucket:
            self.predefined = [s.resolution]
        elif not s.bucket_no_upscale:
            self.predefined = bucket_resolutions(
                s.resolution, s.min_bucket_reso, s.max_bucket_reso, s.bucket_reso_steps
            )
        else:
            self.predefined = []
        self.predefined_set = set(self.predefined)
        self.ratios = [w / h for w, h in self.predefined]

    def _round(self, value: float) -> int:
        rounded = int(value + 0.5)
        return rounded - rounded % self.settings.bucket_reso_steps

    def select(self, width: int, height: int) -> tuple[int, int]:
        aspect = width / height
        upscale = not self.settings.enable_bucket or not self.settings.bucket_no_upscale
        if upscale:
            if (width, height) in self.predefined_set:
                return (width, height)
            errors = [abs(r - aspect) for r in self.ratios]
            return self.predefined[errors.index(min(errors))]
        # No upscaling: shrink only when the image is larger than the training area.
        if width * height > self.max_area:
            resized_w = math.sqrt(self.max_area * aspect)
            resized_h = self.max_area / resized_w
            w_rounded = self._round(resized_w)
            h_in_w = self._round(w_rounded / aspect)
            h_rounded = self._round(resized_h)
            if h_in_w == 0 or h_rounded == 0:
                raise ValueError(
                    f"a {width}x{height} image is too narrow for bucket_no_upscale: sd-scripts fails on it; crop it"
                )
            ar_w = w_rounded / h_in_w
            ar_h = self._round(h_rounded * aspect) / h_rounded
            if abs(ar_w - aspect) < abs(ar_h - aspect):
                resized = (w_rounded, int(w_rounded / aspect + 0.5))
            else:
                resized = (int(h_rounded * aspect + 0.5), h_rounded)
        else:
            resized = (width, height)
        steps = self.settings.bucket_reso_steps
        bucket = (resized[0] - resized[0] % steps, resized[1] - resized[1] % steps)
        if bucket[1] == 0:
            raise ValueError(
                f"a {width}x{height} image makes a zero-sized bucket with bucket_no_upscale: sd-scripts fails on it"
            )
        return bucket


@dataclass(frozen=True)
class BucketCount:
    buckets: dict[tuple[int, int], int]
    """Images per bucket, repeats included."""
    batches: int


def count_batches(images: list[tuple[tuple[int, int], int]], settings: BucketSettings) -> BucketCount:
    """Batches per epoch for (size, repeats) pairs that share one dataset."""
    assigner = BucketAssigner(settings)
    buckets: Counter[tuple[int, int]] = Counter()
    for (width, height), repeats in images:
        bucket = assigner.select(width, height)
        if 0 in bucket:
            raise ValueError(f"a {width}x{height} image is narrower than one bucket step: crop or upscale it")
        buckets[bucket] += repeats
    batches = sum(math.ceil(n / settings.batch_size) for n in buckets.values())
    return BucketCount(dict(sorted(buckets.items())), batches)
