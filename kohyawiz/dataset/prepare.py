"""`kohyawiz prepare`: copy raw images into a training folder with the fixes guide part 2 asks for.

The raw folder is only ever read (D-RAW). Per file: EXIF orientation applied, transparency
flattened onto white (D-ALPHA), long side above 3000 px downscaled (D-HUGE), optionally webp to
PNG (D-FORMAT); captions are copied. A file whose result already exists unchanged is skipped,
so running it twice changes nothing the second time.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from kohyawiz.dataset.doctor import HUGE_SIDE
from kohyawiz.door import CAPTION_LIMIT, link_out, read_text
from kohyawiz.errors import UserError
from kohyawiz.files import write_atomic

READABLE = {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif", ".tif", ".tiff"}
CAPTIONS = (".txt", ".caption")


@dataclass
class Prepared:
    source: Path
    target: Path | None
    actions: list[str] = field(default_factory=list)
    problem: str | None = None


def _same_bytes(path: Path, data: bytes) -> bool:
    return path.is_file() and not path.is_symlink() and path.read_bytes() == data


def _transform(source: Path, webp_to_png: bool) -> tuple[bytes | None, str, list[str]]:
    """New bytes (None: copy as is), the target suffix, and what was done."""
    from PIL import Image, ImageOps

    actions: list[str] = []
    with Image.open(source) as opened:
        opened.load()
        image = ImageOps.exif_transpose(opened)
        if image is not opened and opened.getexif().get(0x0112, 1) != 1:
            actions.append("EXIF orientation applied")
        suffix = source.suffix.lower()
        out_format = {".jpg": "JPEG", ".jpeg": "JPEG", ".png": "PNG", ".webp": "WEBP", ".bmp": "BMP"}.get(suffix, "PNG")
        if suffix not in (".jpg", ".jpeg", ".png", ".webp", ".bmp"):
            actions.append(f"{suffix} converted to PNG (sd-scripts cannot read it)")
            suffix = ".png"
        if suffix == ".webp" and webp_to_png:
            actions.append("webp converted to PNG")
            suffix, out_format = ".png", "PNG"
        has_alpha = image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info)
        if has_alpha:
            rgba = image.convert("RGBA")
            white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
            image = Image.alpha_composite(white, rgba).convert("RGB")
            actions.append("transparency flattened onto white")
        if max(image.size) > HUGE_SIDE:
            scale = HUGE_SIDE / max(image.size)
            size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
            actions.append(f"downscaled {image.width}x{image.height} -> {size[0]}x{size[1]}")
            image = image.resize(size, Image.Resampling.LANCZOS)
        if not actions:
            return None, source.suffix, []
        if out_format == "JPEG" and image.mode not in ("RGB", "L"):
            image = image.convert("RGB")
        buffer = io.BytesIO()
        image.save(buffer, format=out_format, **({"quality": 95} if out_format == "JPEG" else {}))
        return buffer.getvalue(), suffix, actions


def prepare(raw: Path, into: Path, *, webp_to_png: bool = False) -> list[Prepared]:
    raw, into = raw.expanduser().resolve(), into.expanduser().resolve()
    if not raw.is_dir():
        raise UserError("is not a folder of raw images", where=str(raw))
    if into == raw or into.is_relative_to(raw):
        raise UserError("prepare writes outside the raw folder, which is never changed: choose another --into",
                        where=str(into))  # fmt: skip
    from PIL import Image

    into.mkdir(parents=True, exist_ok=True)
    report: list[Prepared] = []
    taken: set[str] = set()
    present_stems = _stems_in(into)
    for source in sorted(p for p in raw.iterdir() if p.suffix.lower() in READABLE and p.is_file()):
        entry = Prepared(source, None)
        if (target := link_out(source, raw)) is not None:
            entry.problem = f"a link that leads out of the raw folder (to {target}): skipped, never read through"
            report.append(entry)
            continue
        try:
            data, suffix, entry.actions = _transform(source, webp_to_png)
        except Image.DecompressionBombError:
            entry.problem = "too many pixels (a decompression bomb?): skipped"
        except (OSError, ValueError, SyntaxError) as exc:
            entry.problem = f"unreadable image: {exc}"
        if entry.problem:
            report.append(entry)
            continue
        try:
            payload = source.read_bytes() if data is None else data
        except OSError as exc:
            entry.problem = f"unreadable image: {exc.strerror or exc}"
            report.append(entry)
            continue
        occupied = partial(_occupied, into, suffix=suffix, payload=payload, present_stems=present_stems)
        stem = _free_stem(source, taken, occupied)
        if stem == source.stem.lstrip(".") != source.stem:
            entry.actions.append(f"named {stem}{suffix}: sd-scripts skips hidden files")
        elif stem != source.stem:  # dup.png, dup.gif and dup-png.png must not share a name
            entry.actions.append(f"named {stem}{suffix}: another image already has the name {source.stem}")
        taken.add(stem.lower())
        entry.target = into / f"{stem}{suffix}"
        try:
            _write_one(source, entry, payload, stem, as_is=data is None)
        except OSError as exc:  # a full disk, a read-only folder: stop in one line, the raw folder untouched
            raise UserError(f"cannot write {entry.target.name}: {exc.strerror or exc}; {len(report)} images were "
                            "prepared before it", where=str(into)) from None  # fmt: skip
        report.append(entry)
    return report


def _stems_in(folder: Path) -> set[str]:
    """The stems (lower case) of what the training folder already holds: the person's own images
    and captions there are never replaced by another image's."""
    try:
        return {p.stem.lower() for p in folder.iterdir()}
    except OSError:
        return set()


def _occupied(into: Path, stem: str, *, suffix: str, payload: bytes, present_stems: set[str]) -> bool:
    """Whether `stem` belongs to something already in the training folder, other than this very
    image written there before (a second run reuses its own name)."""
    return stem.lower() in present_stems and not _same_bytes(into / f"{stem}{suffix}", payload)


def _free_stem(source: Path, taken: set[str], occupied: Callable[[str], bool] = lambda _: False) -> str:
    """The source's own stem, or the first free one of stem-ext, stem-ext-2, ... (case-insensitive,
    as on the file systems people train from). A leading dot is dropped: sd-scripts' glob skips
    hidden files, so `.a.png` would be prepared and never trained on."""
    stem = source.stem.lstrip(".") or "image"
    if stem.lower() not in taken and not occupied(stem):
        return stem
    base = f"{stem}-{source.suffix.lstrip('.').lower()}"
    candidate, number = base, 1
    while candidate.lower() in taken or occupied(candidate):
        number += 1
        candidate = f"{base}-{number}"
    return candidate


def _write_one(source: Path, entry: Prepared, payload: bytes, stem: str, *, as_is: bool) -> None:
    assert entry.target is not None
    if _same_bytes(entry.target, payload):
        entry.actions.append("unchanged")
    else:
        write_atomic(entry.target, payload)
        if as_is:
            entry.actions.append("copied")
    for caption_suffix in CAPTIONS:
        caption = source.with_suffix(caption_suffix)
        if not (caption.is_file() or caption.is_symlink()):
            continue
        if (target := link_out(caption, source.parent)) is not None:
            entry.actions.append(f"caption {caption.name} not copied: a link that leads out of the raw folder (to "
                                 f"{target}), never read through")  # fmt: skip
            continue
        copy = entry.target.parent / f"{stem}{caption_suffix}"
        try:  # through the door: a caption that is a pipe or a huge file must not hang or fill memory
            text = read_text(caption, "caption", CAPTION_LIMIT).encode("utf-8")
        except UserError as exc:
            entry.actions.append(f"caption {caption.name} not copied: {exc.message}")
            continue
        if _same_bytes(copy, text):
            continue
        if copy.exists() or copy.is_symlink():
            entry.actions.append(f"caption {caption.name} not copied: {copy.name} is already there and differs "
                                 "(yours is kept)")  # fmt: skip
            continue
        write_atomic(copy, text)
        entry.actions.append(f"caption {caption.name} copied as {copy.name}")
