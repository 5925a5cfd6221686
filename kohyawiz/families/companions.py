"""Finding a family's companion files (text encoders, VAE) for a base model: given with
`--set ARG=PATH`, held inside the checkpoint, or lying beside the model in a usual layout."""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from pathlib import Path

from kohyawiz.families.base import Companion

# Folders the usual layouts keep companion files in, relative to the model's folder and to the
# folder above it (ComfyUI: models/diffusion_models beside models/text_encoders, models/vae;
# Forge and A1111: models/Stable-diffusion beside models/text_encoder, models/VAE).
LAYOUT_FOLDERS = ("text_encoders", "text_encoder", "clip", "vae", "VAE", "ae", "t5")
_SUFFIXES = (".safetensors", ".pth", ".sft")


@dataclass(frozen=True)
class Found:
    arg: str
    path: str | None
    how: str
    """Why this path (or why none is needed)."""


def search_folders(model: Path) -> list[Path]:
    base = model.parent
    folders = [base]
    for root in (base, base.parent):
        folders += [root / name for name in LAYOUT_FOLDERS]
    seen: list[Path] = []
    for folder in folders:
        if folder.is_dir() and folder.resolve() not in [s.resolve() for s in seen]:
            seen.append(folder)
    return seen


def _candidates(folder: Path) -> list[Path]:
    try:
        return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in _SUFFIXES)
    except OSError:
        return []


def look_for(companion: Companion, model: Path, taken: set[Path]) -> Path | None:
    """The first file matching the companion's names, most specific pattern first, nearest folder first."""
    folders = search_folders(model)
    files = {folder: _candidates(folder) for folder in folders}
    for pattern in companion.names:
        for folder in folders:
            for path in files[folder]:
                if path.resolve() == model.resolve() or path.resolve() in taken:
                    continue
                if fnmatch.fnmatch(path.name.lower(), pattern):
                    return path
    return None


def held_keys(model: Path) -> set[str]:
    """The checkpoint's tensor names, when its header can be read (empty otherwise)."""
    if model.suffix.lower() != ".safetensors" or not model.is_file():
        return set()
    from kohyawiz.errors import UserError
    from kohyawiz.models import read_safetensors_header

    try:
        header = read_safetensors_header(model)
    except UserError:
        return set()
    return {k for k in header if k != "__metadata__"}


def holds(keys: set[str], companion: Companion) -> bool:
    wanted = companion.held_key
    if not wanted:
        return False
    return any(k == wanted or (wanted.endswith(".") and k.startswith(wanted)) for k in keys)
