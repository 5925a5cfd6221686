"""The one door for files kohyawiz reads from outside: regular files only, size-capped, parsed
with a depth cap, and every refusal one line that names the file.

A shared config can name any path: /dev/zero, a FIFO, a folder, a 10 GB file, a document nested
ten thousand levels deep. None of them may hang kohyawiz, exhaust its memory or end in a traceback.
"""

from __future__ import annotations

import json
import os
import stat
import tomllib
from pathlib import Path
from typing import Any

from kohyawiz.errors import UserError

CONFIG_LIMIT = 4 * 1024 * 1024
"""Presets, GUI JSON, sd-scripts TOML, dataset configs, plan.json: far above any real one."""
RECORD_LIMIT = 64 * 1024 * 1024
"""A run's events and log may be long."""
CAPTION_LIMIT = 256 * 1024
MAX_DEPTH = 64
"""Nesting deeper than this is no config a person wrote."""


def _nesting(text: str, limit: int) -> bool:
    """True when brackets or braces nest deeper than `limit` (checked before parsing, so a
    pathological document never reaches the parser's recursion)."""
    depth = 0
    quote = ""
    escaped = False
    for char in text:
        if quote:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == quote:
                quote = ""
            continue
        if char in "\"'":
            quote = char
        elif char in "[{":
            depth += 1
            if depth > limit:
                return True
        elif char in "]}":
            depth = max(0, depth - 1)
    return False


def present(path: Path, kind: str = "any") -> bool:
    """Whether a path named by a file (any text: too long, a NUL byte, a loop) exists, as a folder
    (`kind="dir"`), a file (`"file"`) or anything; never an exception."""
    try:
        if kind == "dir":
            return path.is_dir()
        if kind == "file":
            return path.is_file()
        return path.exists()
    except (OSError, ValueError):
        return False


def link_out(path: Path, folder: Path) -> Path | None:
    """Where `path` leads when it is a link whose target is outside `folder` (a loop counts as
    out), else None. kohyawiz never reads through such a link: a dataset with `a.txt ->
    ~/.ssh/id_rsa` must not get that file quoted, copied or put into a LoRA's metadata."""
    if not path.is_symlink():
        return None
    try:
        target = path.resolve(strict=True)
        root = folder.resolve()
    except (OSError, RuntimeError):
        return Path(os.readlink(path)) if path.is_symlink() else path
    return None if target == root or root in target.parents else target


def refuse_link_out(path: Path, folder: Path, what: str) -> None:
    """A one-line UserError for a link out of `folder` (see link_out)."""
    target = link_out(path, folder)
    if target is not None:
        raise UserError(
            f"is a link that leads out of its folder (to {target}): skipped, kohyawiz does not read the {what} "
            "through it; put the file itself there",
            where=str(path),
        )


def read_text(path: Path | str, what: str, limit: int = CONFIG_LIMIT, *, within: Path | None = None) -> str:
    """The text of a regular file of at most `limit` bytes, as UTF-8. With `within`, a link that
    leads out of that folder is refused, not read."""
    path = Path(path).expanduser()
    if within is not None:
        refuse_link_out(path, within, what)
    try:
        # O_NONBLOCK: opening a FIFO must not wait for a writer; it is refused just below.
        handle = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        raise UserError(f"no such {what}", where=str(path)) from None
    except IsADirectoryError:
        raise UserError(f"is a folder, not a {what}", where=str(path)) from None
    except OSError as exc:
        raise UserError(f"cannot read the {what}: {exc.strerror or exc}", where=str(path)) from None
    try:
        info = os.fstat(handle)
        if stat.S_ISDIR(info.st_mode):
            raise UserError(f"is a folder, not a {what}", where=str(path))
        if not stat.S_ISREG(info.st_mode):
            raise UserError(f"is not a regular file (a device, pipe or socket): not a {what}", where=str(path))
        if info.st_size > limit:
            raise UserError(f"is {info.st_size:,} bytes, too large for a {what} (at most {limit:,})", where=str(path))
        data = b""
        # A read sized to the file: a caption is a few hundred bytes, and a 1 MB buffer for each of
        # ten thousand of them costs more than reading them.
        size = max(4096, min(1024 * 1024, info.st_size + 1))
        while len(data) <= limit:
            chunk = os.read(handle, size)
            if not chunk:
                break
            data += chunk
        if len(data) > limit:
            raise UserError(f"grew past {limit:,} bytes while being read: not a {what}", where=str(path))
    finally:
        os.close(handle)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UserError(f"is not UTF-8 text (byte {exc.start}): not a {what}", where=str(path)) from None


def parse_toml(text: str, what: str, where: str) -> dict[str, Any]:
    if _nesting(text, MAX_DEPTH):
        raise UserError(f"nests deeper than {MAX_DEPTH} levels: not a {what}", where=where)
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise UserError(f"not valid TOML ({exc}): fix it or give another {what}", where=where) from None
    except (RecursionError, MemoryError):
        raise UserError(f"too deeply nested to read: not a {what}", where=where) from None
    except ValueError as exc:  # an integer of thousands of digits: Python's own limit on int()
        raise UserError(f"holds a number too long to read ({str(exc)[:80]}): not a {what}", where=where) from None


def parse_json(text: str, what: str, where: str) -> Any:
    if _nesting(text, MAX_DEPTH):
        raise UserError(f"nests deeper than {MAX_DEPTH} levels: not a {what}", where=where)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise UserError(f"not valid JSON ({exc.msg} at line {exc.lineno}): not a {what}", where=where) from None
    except (RecursionError, MemoryError, ValueError) as exc:
        raise UserError(f"cannot be read as JSON ({type(exc).__name__}): not a {what}", where=where) from None


def read_toml(path: Path | str, what: str, limit: int = CONFIG_LIMIT) -> dict[str, Any]:
    return parse_toml(read_text(path, what, limit), what, str(path))


def read_json(path: Path | str, what: str, limit: int = CONFIG_LIMIT) -> Any:
    return parse_json(read_text(path, what, limit), what, str(path))
