"""The command line's last resort, and text from files shown as text.

A kohyawiz bug is said in one line that points at a report file (the traceback and the command)
in the kohyawiz home; a person never sees a raw traceback. Terminal control characters from file
names, captions and logs are written escaped, so no file can move the cursor, retitle the
terminal or hide what was printed.
"""

from __future__ import annotations

import io
import os
import re
import shlex
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import TextIO

from kohyawiz import __version__

_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_LINE_CONTROLS = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def _escaped(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def escape_controls(text: str, *, keep_newlines: bool = False) -> str:
    """`text` with terminal control characters (and bidirectional overrides) written as escapes;
    tabs stay, newlines too when `keep_newlines`."""
    return (_CONTROLS if keep_newlines else _LINE_CONTROLS).sub(_escaped, text.replace("\t", " ") if not keep_newlines else text)


class EscapingWriter(io.TextIOBase):
    """A text stream that writes to `inner` with control characters escaped (newlines and tabs kept)."""

    def __init__(self, inner: TextIO) -> None:
        self.inner = inner

    def write(self, text: str) -> int:
        self.inner.write(_CONTROLS.sub(_escaped, text))
        return len(text)

    def flush(self) -> None:
        self.inner.flush()

    def isatty(self) -> bool:
        return self.inner.isatty()

    def fileno(self) -> int:
        return self.inner.fileno()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self.inner, "encoding", "utf-8")


_SECRET_SET = re.compile(r"^(--set=?)?(?P<key>[\w-]+)=")


def _redacted(words: list[str]) -> list[str]:
    """The command with the values of credentials left out (they must not land in a report)."""
    from kohyawiz.trust import sends_elsewhere

    out = []
    for word in words:
        found = _SECRET_SET.match(word)
        if found and sends_elsewhere(found.group("key").lstrip("-"), "x") == "is a credential":
            word = word[: found.end()] + "<left out>"
        out.append(word)
    return out


def write_bug_report(words: list[str]) -> Path:
    """The current exception's traceback and the command, in a new file; its path."""
    text = (
        f"kohyawiz {__version__} on Python {sys.version.split()[0]}\n"
        f"command: kohyawiz {shlex.join(_redacted(words))}\n"
        f"working folder: {os.getcwd()}\n\n{traceback.format_exc()}"
    )
    name = f"bug-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.txt"
    from kohyawiz.files import kohyawiz_home, write_atomic

    for folder in (kohyawiz_home() / "bugs", Path(tempfile.gettempdir())):
        try:
            folder.mkdir(parents=True, exist_ok=True)
            write_atomic(folder / name, text)
            return folder / name
        except OSError:
            continue
    return Path("(no report could be written)")
