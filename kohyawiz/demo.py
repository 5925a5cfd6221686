"""A small, real training folder to plan without any model or GPU: `kohyawiz demo`."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

# (width, height) of the demo images: several aspect ratios, so buckets matter.
DEMO_SIZES = [(768, 768), (640, 896), (896, 640), (512, 768), (1024, 768), (832, 640)] * 4
DEMO_TAGS = ["kwdemo", "solo", "standing", "simple background"]


def png_bytes(width: int, height: int, shade: int = 128) -> bytes:
    """A flat grey PNG, written by hand so the demo needs no imaging library."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    row = b"\x00" + bytes([shade]) * width
    pixels = zlib.compress(row * height, 9)
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")


TRAIN_SIZES = [(64, 64), (64, 64)]
"""The images `demo --train` trains on: the smallest bucket, so a few CPU steps take minutes."""


def _captioned_images(folder: Path, sizes: list[tuple[int, int]]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for index, (width, height) in enumerate(sizes):
        stem = folder / f"img{index:03d}"
        stem.with_suffix(".png").write_bytes(png_bytes(width, height, 60 + 7 * index))
        stem.with_suffix(".txt").write_text(", ".join(DEMO_TAGS) + "\n", encoding="utf-8")


def make_demo_dataset(root: Path) -> Path:
    """Write `root/dataset/1_kwdemo` with captioned images; return the dataset folder."""
    _captioned_images(root / "dataset" / "1_kwdemo", DEMO_SIZES)
    (root / "dataset" / "raw").mkdir(exist_ok=True)
    return root / "dataset"


def make_train_dataset(root: Path) -> Path:
    """Write `root/train-dataset/1_kwdemo`: two small captioned images for `demo --train`."""
    _captioned_images(root / "train-dataset" / "1_kwdemo", TRAIN_SIZES)
    return root / "train-dataset"
