"""How many tokens a caption takes in CLIP's text encoder, which reads 75 per chunk (sd-scripts'
max_token_length: 75, 150 or 225) and silently drops the rest.

With CLIP's merges.txt in the Hugging Face cache (found in huggingface-hub's cache layout, offline,
without importing huggingface-hub: it alone would take longer than the whole check) the count
is CLIP's own: its pre-tokenising pattern, its byte-to-character table and its BPE merges,
applied here. Without it, a close estimate from the same pattern.
"""

from __future__ import annotations

import html
import itertools
import math
import os
import re
from functools import cache
from pathlib import Path

CLIP_REPO = "openai/clip-vit-large-patch14"
MERGES = 49152 - 256 - 2
"""CLIP uses this many merges of merges.txt (its vocabulary is 49408 with the byte and special tokens)."""
# Words, single digits, and runs of anything else that is not a space (underscore included).
_PIECES = re.compile(r"'s|'t|'re|'ve|'m|'ll|'d|[^\W\d_]+|\d|(?:[^\s\w]|_)+", re.IGNORECASE)
_CHARS_PER_TOKEN = 6
"""A common English word is one BPE token; longer or rarer ones split about every six letters."""


def _clean(text: str) -> str:
    return " ".join(html.unescape(html.unescape(text)).split()).lower()


def estimate_tokens(text: str) -> int:
    return sum(
        max(1, math.ceil(len(piece) / _CHARS_PER_TOKEN)) if piece[0].isalpha() else 1
        for piece in _PIECES.findall(_clean(text))
    )


@cache
def _byte_chars() -> dict[int, str]:
    """CLIP's reversible table from bytes to printable characters."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    table = {b: chr(b) for b in printable}
    extra = 0
    for byte in range(256):
        if byte not in table:
            table[byte] = chr(256 + extra)
            extra += 1
    return table


class ClipCounter:
    """CLIP's BPE, counting the pieces of each word."""

    def __init__(self, merges_file: Path) -> None:
        lines = merges_file.read_text(encoding="utf-8").splitlines()[1 : MERGES + 1]
        self.ranks = {tuple(line.split()): rank for rank, line in enumerate(lines) if len(line.split()) == 2}
        self._seen: dict[str, int] = {}

    def _word(self, token: str) -> int:
        if token in self._seen:
            return self._seen[token]
        chars = [_byte_chars()[b] for b in token.encode("utf-8")]
        parts = [*chars[:-1], chars[-1] + "</w>"]
        while len(parts) > 1:
            known = [rank for pair in itertools.pairwise(parts) if (rank := self.ranks.get(pair)) is not None]
            if not known:
                break
            best = min(known)
            merged: list[str] = []
            i = 0
            while i < len(parts):
                if i + 1 < len(parts) and self.ranks.get((parts[i], parts[i + 1])) == best:
                    merged.append(parts[i] + parts[i + 1])
                    i += 2
                else:
                    merged.append(parts[i])
                    i += 1
            parts = merged
        self._seen[token] = len(parts)
        return len(parts)

    def count(self, text: str) -> int:
        return sum(self._word(piece) for piece in _PIECES.findall(_clean(text)))


def hub_cache_dir() -> Path:
    """The Hugging Face hub cache, found as huggingface-hub finds it (its constants module)."""
    for name in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"):
        if os.environ.get(name):
            return Path(os.environ[name]).expanduser()
    if os.environ.get("HF_HOME"):
        return Path(os.environ["HF_HOME"]).expanduser() / "hub"
    cache_home = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache_home).expanduser() / "huggingface" / "hub"


def clip_merges_file() -> Path | None:
    """CLIP's merges.txt, when it is already in the Hugging Face cache (nothing is downloaded):
    the snapshot that the repository's refs/main names, as huggingface-hub's cache keeps it."""
    repo = hub_cache_dir() / ("models--" + CLIP_REPO.replace("/", "--"))
    try:
        revision = (repo / "refs" / "main").read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):  # not cached, or a damaged cache: no reason to stop the doctor
        return None
    if not revision or "/" in revision or revision.startswith("."):
        return None
    found = repo / "snapshots" / revision / "merges.txt"
    return found if found.is_file() else None


@cache
def _counter() -> ClipCounter | None:
    path = clip_merges_file()
    if path is None:
        return None
    try:
        return ClipCounter(path)
    except (OSError, UnicodeDecodeError):
        return None


def count_tokens(text: str) -> tuple[int, bool]:
    """(tokens, exact): exact when CLIP's own merges counted them."""
    counter = _counter()
    if counter is not None:
        return counter.count(text), True
    return estimate_tokens(text), False
