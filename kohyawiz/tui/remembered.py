"""What the wizard remembers between sessions (the sd-scripts folder), in the kohyawiz home."""

from __future__ import annotations

import tomllib
from pathlib import Path

from kohyawiz import tomlwrite

FILE_NAME = "wizard.toml"


def _file() -> Path:
    from kohyawiz.files import kohyawiz_home

    return kohyawiz_home() / FILE_NAME


def load() -> dict[str, str]:
    try:
        data = tomllib.loads(_file().read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return {}
    return {k: v for k, v in data.items() if isinstance(v, str)}


def save(values: dict[str, str]) -> None:
    from kohyawiz.files import write_atomic

    merged = {**load(), **values}
    try:
        _file().parent.mkdir(parents=True, exist_ok=True)
        write_atomic(_file(), "\n".join(tomlwrite.pairs((k, v, None) for k, v in merged.items())) + "\n")
    except (OSError, ValueError):
        pass  # remembering is a convenience; the run does not depend on it
