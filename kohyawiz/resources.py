"""Where the data kohyawiz ships with lives: presets/, templates/ and vendor/.

An installed wheel carries them under kohyawiz/_data/; an editable install reads them from the
repository root beside the package.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


@cache
def data_dir(name: str) -> Path:
    for candidate in (_PACKAGE / "_data" / name, _PACKAGE.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"kohyawiz's {name}/ folder is missing from this install")


def package_dir() -> Path:
    return _PACKAGE


def presets_dir() -> Path:
    return data_dir("presets")


def templates_dir() -> Path:
    return data_dir("templates")


def vendor_dir() -> Path:
    return data_dir("vendor")
