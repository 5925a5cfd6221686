"""The dataset doctor: guide parts 1-3 as findings per concept and per file (the D-* rules).

Only headers are read, except to hash files for duplicate detection. Nothing is ever written.
"""

from __future__ import annotations

import hashlib
import os
from collections import defaultdict
from pathlib import Path

from kohyawiz.dataset.counts import count_findings
from kohyawiz.dataset.images import truncation
from kohyawiz.dataset.options import CheckOptions as CheckOptions  # re-export: where callers import it from
from kohyawiz.dataset.scan import DatasetScan, ScannedConcept, caption_for
from kohyawiz.dataset.tags import implied_pairs, looks_like_sentences, normalise, split_tags
from kohyawiz.dataset.tokens import count_tokens
from kohyawiz.decisions import Finding
from kohyawiz.errors import UserError

HUGE_SIDE = 3000
TAGS_PER_CAPTION = 20
CAPTION_EXTENSIONS = (".txt", ".caption")


def check_dataset(scan: DatasetScan, options: CheckOptions) -> list[Finding]:
    findings = list(scan.findings)
    multi = options.multi_concept if options.multi_concept is not None else len(scan.concepts) > 1
    for path in scan.ignored:
        if path.name.lower() == "raw":
            findings.append(
                Finding("D-RAW", "info", "raw/ is left alone: kohyawiz never changes raw images", str(path))
            )
    for concept in scan.concepts:
        if options.asymmetric:
            findings.append(
                Finding(
                    "D-ASYM",
                    "info",
                    f"{concept.name!r}: asymmetric details: every image must face the same way; flip_aug stays off",
                    str(concept.folder),
                )
            )
        findings += count_findings(options.subject, concept.name, len(concept.images))
        findings += _check_files(concept, options)
        findings += _check_captions(concept, options, multi)
    findings += _duplicates([image for c in scan.concepts for image in c.images if image not in c.links_out])
    return findings


PARTIAL_HASH_BYTES = 4096
"""How much of each end of a file the partial hash reads: enough to tell real images apart."""


def _digest(path: Path, partial: bool) -> str | None:
    """SHA-1 of the file, or with `partial` of its first and last PARTIAL_HASH_BYTES only."""
    digest = hashlib.sha1()
    try:
        with path.open("rb") as handle:
            if not partial:
                while chunk := handle.read(1024 * 1024):
                    digest.update(chunk)
                return digest.hexdigest()
            digest.update(handle.read(PARTIAL_HASH_BYTES))
            handle.seek(0, 2)
            end = handle.tell()
            if end > 2 * PARTIAL_HASH_BYTES:
                handle.seek(end - PARTIAL_HASH_BYTES)
                digest.update(handle.read(PARTIAL_HASH_BYTES))
            return digest.hexdigest()
    except OSError:
        return None


def _same(paths: list[Path], partial: bool) -> list[list[Path]]:
    """The groups of two or more among `paths` whose (partial) digests agree."""
    groups: dict[str, list[Path]] = defaultdict(list)
    for path in paths:
        if (digest := _digest(path, partial)) is not None:
            groups[digest].append(path)
    return [group for group in groups.values() if len(group) > 1]


def _duplicates(images: list[Path]) -> list[Finding]:
    """The same bytes under two names. Files are compared by size first, then by a hash of their
    two ends, and only files that still agree are hashed whole, so most of a dataset is never
    read past its first and last few kilobytes."""
    by_size: dict[int, list[Path]] = defaultdict(list)
    for image in images:
        try:
            by_size[image.stat().st_size].append(image)
        except OSError:
            continue
    findings = []
    for size, same_size in by_size.items():
        if len(same_size) < 2:
            continue
        # A small file's two ends are the whole file: its partial hash would be a whole one.
        candidates = [same_size] if size <= 2 * PARTIAL_HASH_BYTES else _same(same_size, partial=True)
        for candidate in candidates:
            for paths in _same(candidate, partial=False):
                names = ", ".join(p.name for p in paths)
                findings.append(
                    Finding("D-FORMAT", "warn", f"the same image appears {len(paths)} times: {names}", str(paths[0]))
                )
    return findings


def check_folders(folders: list[tuple[Path, str]], options: CheckOptions) -> list[Finding]:
    """The per-folder checks for image folders named in a dataset config (any names)."""
    from kohyawiz.dataset.scan import read_concept
    from kohyawiz.facts import resolve_version

    extensions = resolve_version(None).image_extensions
    findings = []
    from kohyawiz.door import present

    for folder, name in folders:
        if not present(folder, "dir"):
            findings.append(Finding("D-FOLDER", "error", "image folder does not exist", str(folder)))
            continue
        concept = ScannedConcept(folder, 1, name)
        read_concept(concept, extensions, read_sizes=True)
        if not concept.images:
            findings.append(
                Finding(
                    "D-FOLDER",
                    "error",
                    "no images sd-scripts can read (it would stop with 'No data found')",
                    str(folder),
                )
            )
        findings += _check_files(concept, options) + _check_captions(concept, options, False)
    return findings


def _check_files(concept: ScannedConcept, options: CheckOptions) -> list[Finding]:
    out = []
    for path in concept.skipped:
        if path.suffix.lower() in (".avif", ".jxl"):
            why = "needs an optional plugin in sd-scripts' environment"
        else:
            why = "sd-scripts does not read it as an image (only .png .jpg .jpeg .webp .bmp, in lower or upper case)"
        out.append(Finding("D-FORMAT", "info", f"{path.name} is skipped: {why}", str(path)))
    stems: dict[str, list[Path]] = defaultdict(list)
    for image in concept.images:
        stems[image.stem].append(image)
        if image.suffix.lower() == ".webp":
            out.append(
                Finding(
                    "D-FORMAT", "info", "webp is read by sd-scripts since v0.8.7; `prepare` can convert it", str(image)
                )
            )
    for stem, paths in stems.items():
        if len(paths) > 1:
            out.append(
                Finding(
                    "D-CAPTION",
                    "warn",
                    f"{len(paths)} images share the stem {stem!r} and so one caption",
                    str(paths[0]),
                )
            )
    for path, problem in concept.unreadable.items():
        out.append(Finding("D-FORMAT", "error", f"unreadable image: {problem}", str(path)))
    for path, target in concept.links_out.items():
        out.append(Finding("D-FORMAT", "warn", f"{path.name} is a link that leads out of its folder (to {target}): "
                           "skipped, kohyawiz does not read through it (its size is unknown); sd-scripts will read "
                           "it: put the image itself there", str(path)))  # fmt: skip
    for image in concept.images:
        cut = truncation(image) if image in concept.sizes else None
        if cut:
            out.append(Finding("D-FORMAT", "error", f"the file is cut short ({cut}): sd-scripts stops on it while "
                                                    "caching latents; replace it", str(image)))  # fmt: skip
    for image in concept.images:
        size = concept.sizes.get(image)
        if size is None:
            continue
        if image in concept.transparent and uses_transparency(image):
            out.append(
                Finding("D-ALPHA", "warn", "has transparency: flatten it onto white (`prepare` does)", str(image))
            )
        if max(size) > HUGE_SIDE:
            out.append(
                Finding("D-HUGE", "warn", f"{size[0]}x{size[1]}: downscale to {HUGE_SIDE} px or less", str(image))
            )
        if max(size) < options.resolution:
            out.append(
                Finding(
                    "D-SMALL",
                    "warn",
                    f"{size[0]}x{size[1]} is below {options.resolution} px: consider an upscaler",
                    str(image),
                )
            )
    return out


def uses_transparency(path: Path) -> bool:
    """Whether any pixel is see-through. The header only says a channel exists (many opaque PNGs
    carry one), so this is the one check that decodes pixels, and only for such images."""
    try:
        from PIL import Image
    except ImportError:
        return True
    try:
        with Image.open(path) as opened:
            image = opened.convert("RGBA") if opened.mode == "P" else opened
            if "A" not in image.getbands():
                return "transparency" in image.info
            low = image.getchannel("A").getextrema()[0]
            return isinstance(low, int | float) and low < 255
    except (OSError, ValueError, Image.DecompressionBombError):
        return True


def _read_caption(path: Path) -> tuple[str | None, Finding | None]:
    from kohyawiz.door import CAPTION_LIMIT, link_out, read_text

    if (target := link_out(path, path.parent)) is not None:
        return None, Finding("D-CAPTION", "error", f"{path.name} is a link that leads out of its folder (to {target}): "
                             "skipped, kohyawiz does not read through it; sd-scripts would read it and put its words "
                             "into the LoRA's metadata: put the caption itself there", str(path))  # fmt: skip
    try:
        return read_text(path, "caption", CAPTION_LIMIT), None
    except UserError as exc:
        return None, Finding("D-CAPTION", "error", f"{exc.message}: sd-scripts cannot use it", str(path))


def _file_names(folder: Path) -> list[str]:
    """The names of the regular files in `folder` (links followed, as is_file() does), sorted."""
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return []
    names = []
    for entry in entries:
        try:
            if entry.is_file():
                names.append(entry.name)
        except OSError:
            continue
    return sorted(names)


def _check_captions(concept: ScannedConcept, options: CheckOptions, multi: bool) -> list[Finding]:
    out = []
    triggers = [normalise(t) for t in concept.name.split(",") if t.strip()]
    expected = triggers[:2] if multi and len(triggers) > 1 else triggers[:1]
    counts: list[int] = []
    sentence_like = 0
    image_stems = {p.stem for p in concept.images}
    if not options.caption_extension.startswith("."):
        out.append(Finding("D-CAPTION", "warn", f"caption_extension {options.caption_extension!r} has no dot: sd-scripts "
                           f"adds it to the name as it is (img{options.caption_extension}); write "
                           f"'.{options.caption_extension}' if you mean a file extension", str(concept.folder)))  # fmt: skip
    files = _file_names(concept.folder)  # one listing of the folder, sorted, for every caption question
    for other in CAPTION_EXTENSIONS:
        if other == options.caption_extension:
            continue
        strays = [name for name in files if name.endswith(other)]
        if strays:
            out.append(
                Finding(
                    "D-CAPTION",
                    "warn",
                    f"{len(strays)} {other} captions, but the plan reads {options.caption_extension}",
                    str(concept.folder / strays[0]),
                )
            )
    captions = {name for name in files if name.endswith(options.caption_extension)}
    for name in sorted(captions):
        if name[: -len(options.caption_extension)] not in image_stems:
            out.append(Finding("D-CAPTION", "info", "caption without an image", str(concept.folder / name)))
    for image in concept.images:
        caption = caption_for(image, options.caption_extension)
        if caption.name not in captions:
            out.append(
                Finding("D-CAPTION", "warn", "no caption: sd-scripts will use the folder's tags alone", str(image))
            )
            continue
        text, problem = _read_caption(caption)
        if problem:
            out.append(problem)
            continue
        tags = split_tags(text or "")
        if not tags:
            out.append(
                Finding("D-TAGS", "error", "empty caption: sd-scripts stops with 'caption file is empty'", str(caption))
            )
            continue
        counts.append(len(tags))
        tokens, exact = count_tokens(text or "")
        if tokens > options.max_tokens:
            how = "counted with CLIP's tokenizer" if exact else "estimated"
            out.append(Finding("D-TAGS", "warn", f"{tokens} tokens ({how}); the text encoder reads "
                                                 f"{options.max_tokens} (max_token_length) and drops the rest: put "
                                                 "the important tags first or shorten it", str(caption)))  # fmt: skip
        first = [normalise(t) for t in tags[: len(expected)]]
        if expected and first != expected:
            want = ", ".join(expected)
            out.append(
                Finding(
                    "D-CAPTION",
                    "warn",
                    f"starts with {', '.join(tags[: len(expected)])!r}, not the trigger {want!r}",
                    str(caption),
                )
            )
        seen: set[str] = set()
        for tag in tags:
            if normalise(tag) in seen:
                out.append(Finding("D-TAGS", "warn", f"duplicate tag {tag!r}", str(caption)))
            seen.add(normalise(tag))
        for tag, implied in implied_pairs(tags, options.implications):
            out.append(Finding("D-IMPLIED", "warn", f"{tag!r} implies {implied!r}: drop {implied!r}", str(caption)))
        sentence_like += looks_like_sentences(tags)
    if counts and sum(counts) / len(counts) > TAGS_PER_CAPTION:
        average = sum(counts) / len(counts)
        out.append(
            Finding(
                "D-TAGS",
                "warn",
                f"{concept.name!r}: {average:.1f} tags per caption on average; keep it near 20 or below",
                str(concept.folder),
            )
        )
    if counts:
        share = sentence_like / len(counts)
        if options.tags in ("booru", "e6") and share >= 0.5:
            out.append(
                Finding(
                    "D-TAGSTYLE",
                    "warn",
                    f"{concept.name!r}: captions read as sentences, but the model takes {options.tags} tags",
                    str(concept.folder),
                )
            )
        elif (
            options.tags == "natural"
            and share == 0
            and len(counts) >= 3
            and any("_" in t for t in _first_caption_tags(concept, options))
        ):
            out.append(
                Finding(
                    "D-TAGSTYLE",
                    "info",
                    f"{concept.name!r}: captions look like booru tags on a natural-language model",
                    str(concept.folder),
                )
            )
    return out


def _first_caption_tags(concept: ScannedConcept, options: CheckOptions) -> list[str]:
    for image in concept.images:
        text, _ = _read_caption(caption_for(image, options.caption_extension))
        if text:
            return split_tags(text)
    return []
