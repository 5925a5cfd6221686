"""Read a training folder the way sd-scripts does: the parent of `N_name` folders (guide part 2).

Only headers are read. Findings name rule D-FOLDER for folder names; the doctor adds the rest.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from kohyawiz.dataset.images import ImageHeaderError, read_header
from kohyawiz.decisions import Finding
from kohyawiz.door import link_out
from kohyawiz.errors import UserError


@dataclass
class ScannedConcept:
    folder: Path
    repeats: int
    name: str
    images: list[Path] = field(default_factory=list)
    sizes: dict[Path, tuple[int, int]] = field(default_factory=dict)
    unreadable: dict[Path, str] = field(default_factory=dict)
    transparent: set[Path] = field(default_factory=set)
    skipped: list[Path] = field(default_factory=list)
    """Files sd-scripts would not read as images."""
    links_out: dict[Path, Path] = field(default_factory=dict)
    """Images that are links leading out of the folder, with their targets: counted (sd-scripts
    reads them) but never read by kohyawiz."""

    def known_sizes(self) -> list[tuple[int, int]]:
        return [self.sizes[p] for p in self.images if p in self.sizes]


@dataclass
class DatasetScan:
    root: Path
    concepts: list[ScannedConcept]
    findings: list[Finding]
    ignored: list[Path]


def parse_folder_name(name: str) -> tuple[int, str] | None:
    """(repeats, concept) for `N_name`, None for a folder without the pattern; raise for `x_name`."""
    head, sep, rest = name.partition("_")
    if not sep:
        return None
    try:
        repeats = int(head)
    except ValueError:
        raise ValueError(f"folder {name!r}: the part before '_' must be the repeat count, e.g. 1_{rest}") from None
    if repeats < 1:
        raise ValueError(f"folder {name!r}: repeats must be 1 or more (sd-scripts skips it silently)")
    if not rest.strip():
        raise ValueError(f"folder {name!r}: name the concept after the '_', e.g. {repeats}_mytrigger")
    return repeats, rest


def caption_for(image: Path, extension: str) -> Path:
    """The caption sd-scripts reads for an image: its name without the suffix, then the caption
    extension as written (sd-scripts adds it as text, so `txt` without a dot means `atxt`)."""
    if any(c in extension for c in "/\\\x00"):
        raise UserError(f"caption extension {extension!r} must be a suffix such as .txt: no folders")
    return image.with_name(image.stem + extension)


def is_sd_image(path: Path, extensions: tuple[str, ...]) -> bool:
    """sd-scripts globs `*<ext>` per extension: case-sensitive, hidden files excluded."""
    return not path.name.startswith(".") and any(path.name.endswith(ext) for ext in extensions)


def scan_training_dir(root: Path, extensions: tuple[str, ...], read_sizes: bool = True) -> DatasetScan:
    root = root.expanduser()
    if not root.is_dir():
        raise UserError("is not a folder; give the parent of your N_name image folders", where=str(root))
    root = root.resolve()
    concepts: list[ScannedConcept] = []
    findings: list[Finding] = []
    ignored: list[Path] = []
    try:
        entries = sorted(os.scandir(root), key=lambda e: e.name)
    except OSError as exc:
        raise UserError(f"cannot list the folder: {exc.strerror}", where=str(root)) from exc
    for entry in entries:
        if not entry.is_dir():
            continue
        target = link_out(Path(entry.path), root)
        if target is not None:
            findings.append(Finding("D-FOLDER", "warn", f"{entry.name} is a link that leads out of the dataset folder "
                                    f"(to {target}): skipped, kohyawiz does not read through it; give the real folder "
                                    "or copy it in", entry.path))  # fmt: skip
            continue
        try:
            parsed = parse_folder_name(entry.name)
        except ValueError as exc:
            findings.append(Finding("D-FOLDER", "error", str(exc)))
            continue
        if parsed is None:
            ignored.append(Path(entry.path))
            findings.append(
                Finding("D-FOLDER", "info", f"folder {entry.name!r} has no N_ prefix: sd-scripts ignores it")
            )
            continue
        concept = ScannedConcept(Path(entry.path), parsed[0], parsed[1])
        read_concept(concept, extensions, read_sizes)
        concepts.append(concept)
    if not concepts and not any(f.level == "error" for f in findings):
        findings.append(Finding("D-FOLDER", "error", _no_concepts(root)))
    return DatasetScan(root, concepts, findings, ignored)


def _no_concepts(root: Path) -> str:
    try:
        itself = parse_folder_name(root.name) is not None
    except ValueError:
        itself = False
    if itself:  # the N_name folder itself was given, not the folder that holds it
        return f"{root} is itself an N_name folder: give the folder that holds it, {root.parent}"
    return f"{root} holds no N_name folders: make one like {root}/1_mytrigger"


def read_concept(concept: ScannedConcept, extensions: tuple[str, ...], read_sizes: bool) -> None:
    try:
        entries = list(os.scandir(concept.folder))
    except OSError:
        return
    files = []
    for entry in entries:
        try:
            if entry.is_file():
                files.append(entry)
        except OSError:  # a link that loops: one bad entry must not hide the rest of the folder
            if is_sd_image(Path(entry.path), extensions):
                concept.unreadable[Path(entry.path)] = "a link that loops or cannot be followed"
    for entry in sorted(files, key=lambda e: e.name):
        path = Path(entry.path)
        if is_sd_image(path, extensions):
            concept.images.append(path)
            if (target := link_out(path, concept.folder)) is not None:
                concept.links_out[path] = target
                continue
            if read_sizes:
                try:
                    concept.sizes[path], alpha = read_header(path)
                    if alpha:
                        concept.transparent.add(path)
                except ImageHeaderError as exc:
                    concept.unreadable[path] = str(exc)
        elif path.suffix.lower() not in (".txt", ".caption", ".npz", ".json", ".toml"):
            concept.skipped.append(path)
