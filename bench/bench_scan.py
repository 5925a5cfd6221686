"""Prints images per second for kohyawiz's header-only scan against a full Pillow decode:
`python bench/bench_scan.py [COUNT] [SIDE]` (default 10,000 images of about 64-128 px)."""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from kohyawiz.dataset.doctor import CheckOptions, check_dataset
from kohyawiz.dataset.scan import scan_training_dir
from kohyawiz.demo import png_bytes
from kohyawiz.facts import resolve_version


def make(root: Path, count: int, side: int) -> Path:
    folder = root / "1_bench"
    folder.mkdir(parents=True)
    for i in range(count):
        (folder / f"{i:05d}.png").write_bytes(png_bytes(side + i % 64, side + (i * 7) % 64, i % 256))
        (folder / f"{i:05d}.txt").write_text("bench, tag one, tag two")
    return root


def main(count: int, side: int) -> None:
    root = make(Path(tempfile.mkdtemp()), count, side)
    extensions = resolve_version(None).image_extensions
    start = time.perf_counter()
    scan = scan_training_dir(root, extensions)
    scanned = time.perf_counter() - start
    start = time.perf_counter()
    check_dataset(scan, CheckOptions(resolution=64))
    checked = time.perf_counter() - start
    print(f"images of about {side} px")
    print(f"{count} images: header scan {count / scanned:,.0f} images/s ({scanned:.2f} s)")
    print(f"{count} images: full doctor (captions, hashes, alpha) {count / checked:,.0f} images/s ({checked:.2f} s)")
    try:
        from PIL import Image
    except ImportError:
        print("Pillow is not installed: no full-decode comparison")
        return
    start = time.perf_counter()
    for path in scan.concepts[0].images:
        with Image.open(path) as image:
            image.load()
    decoded = time.perf_counter() - start
    print(f"{count} images: Pillow full decode {count / decoded:,.0f} images/s ({decoded:.2f} s)")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 10_000, int(sys.argv[2]) if len(sys.argv) > 2 else 64)
