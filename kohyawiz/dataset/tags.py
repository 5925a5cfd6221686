"""Caption tags: reading captions, implications (D-IMPLIED) and tag-style guesses (D-TAGSTYLE)."""

from __future__ import annotations

import csv
from collections.abc import Iterable
from pathlib import Path

from kohyawiz.errors import UserError

# A small list of our own: antecedent -> tags it implies (booru and e6 spellings both).
BUILTIN_IMPLICATIONS: dict[str, set[str]] = {
    "german shepherd": {"dog", "canine", "canid", "mammal"},
    "wolf": {"canine", "canid", "mammal"},
    "dog": {"canine", "canid", "mammal"},
    "fox": {"canine", "canid", "mammal"},
    "domestic cat": {"felid", "feline", "mammal"},
    "spread legs": {"legs"},
    "long hair": {"hair"},
    "short hair": {"hair"},
    "blue eyes": {"eyes"},
    "red eyes": {"eyes"},
    "green eyes": {"eyes"},
    "twintails": {"long hair"},
    "thighhighs": {"legwear"},
    "pantyhose": {"legwear"},
    "full-length portrait": {"portrait"},
    "three-quarter portrait": {"portrait"},
    "headshot portrait": {"portrait"},
    "colored sketch": {"sketch"},
}


def split_tags(caption: str) -> list[str]:
    return [t.strip() for t in caption.replace("\n", ",").split(",") if t.strip()]


def normalise(tag: str) -> str:
    return tag.strip().lower().replace("_", " ")


def load_implications(path: Path) -> dict[str, set[str]]:
    """A two-column antecedent,consequent CSV, as tag boards export it."""
    from kohyawiz.door import read_text

    table: dict[str, set[str]] = {}
    text = read_text(path, "tag implications CSV", 64 * 1024 * 1024)
    try:
        rows = list(csv.reader(text.splitlines()))
    except csv.Error as exc:
        raise UserError(f"not a readable CSV ({exc})", where=str(path)) from None
    for number, row in enumerate(rows, start=1):
        if not row or row[0].startswith("#"):
            continue
        if len(row) < 2:
            raise UserError(f"line {number}: want antecedent,consequent", where=str(path))
        if number == 1 and row[0].strip().lower() in ("antecedent", "antecedent_name"):
            continue
        table.setdefault(normalise(row[0]), set()).add(normalise(row[1]))
    return table


def implied_pairs(tags: Iterable[str], table: dict[str, set[str]]) -> list[tuple[str, str]]:
    """(tag, implied tag) pairs that stand together in one caption, following chains."""
    present = {normalise(t): t for t in tags}
    pairs = []
    for tag in present:
        seen: set[str] = set()
        frontier = set(table.get(tag, ()))
        while frontier:
            implied = frontier.pop()
            if implied in seen:
                continue
            seen.add(implied)
            frontier |= table.get(implied, set())
        pairs += [(present[tag], present[i]) for i in sorted(seen) if i in present and i != tag]
    return pairs


def looks_like_sentences(tags: list[str]) -> bool:
    """Natural-language captions: long comma pieces with articles or sentence punctuation."""
    if not tags:
        return False
    wordy = sum(
        1 for t in tags if len(t.split()) >= 5 or t.endswith(".") or t.lower().startswith(("a ", "an ", "the "))
    )
    return wordy / len(tags) >= 0.3


def fix_caption(tags: list[str], triggers: list[str], implications: dict[str, set[str]]) -> list[str]:
    """Trigger tag(s) first (added where missing), duplicates removed, implied tags dropped (D-CAPTION,
    D-TAGS, D-IMPLIED). Order is otherwise kept."""
    wanted = [normalise(t) for t in triggers]
    seen: set[str] = set()
    rest = []
    for tag in tags:
        key = normalise(tag)
        if key in seen or key in wanted:
            continue
        seen.add(key)
        rest.append(tag)
    implied = {normalise(i) for _, i in implied_pairs([*triggers, *rest], implications)}
    kept = [t for t in rest if normalise(t) not in implied or normalise(t) in wanted]
    return [*triggers, *kept]


def caption_fixes(
    root: Path,
    implications: dict[str, set[str]],
    caption_extension: str = ".txt",
    triggers: list[str] | None = None,
    skipped: list[Path] | None = None,
) -> list[tuple[Path, str, str]]:
    """(caption file, old text, new text) for every caption the tag rules would change. Captions
    (or images) that are links leading out of their folder are neither read nor fixed: they are
    added to `skipped`."""
    from kohyawiz.dataset.scan import caption_for, scan_training_dir
    from kohyawiz.door import CAPTION_LIMIT, link_out, present, read_text
    from kohyawiz.facts import resolve_version

    skipped = [] if skipped is None else skipped

    scan = scan_training_dir(root, resolve_version(None).image_extensions, read_sizes=False)
    fixes = []
    for concept in scan.concepts:
        wanted = triggers or [t.strip() for t in concept.name.split(",") if t.strip()]
        for image in concept.images:
            caption = caption_for(image, caption_extension)
            if link_out(caption, concept.folder) is not None or image in concept.links_out:
                skipped.append(caption)  # never read through, never written through
                continue
            if caption.is_file():
                try:
                    old = read_text(caption, "caption", CAPTION_LIMIT)
                except UserError:
                    continue  # the doctor reports it; a fix would lose text
            elif present(caption):
                skipped.append(caption)  # a folder or pipe where the caption goes is not replaced
                continue
            else:
                old = ""
            new = ", ".join(fix_caption(split_tags(old), wanted, implications))
            if new != old.strip():
                fixes.append((caption, old, new))
    return fixes


def write_caption_fixes(fixes: list[tuple[Path, str, str]]) -> None:
    from kohyawiz.files import write_atomic

    for caption, _, new in fixes:
        write_atomic(caption, new + "\n")
