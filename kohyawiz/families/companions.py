"""Finding a family's companion files (text encoders, VAE) for a base model: given with
`--set ARG=PATH`, held inside the checkpoint, or lying beside the model in a usual layout."""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from pathlib import Path

from kohyawiz.families.base import Companion, FamilySpec

# Folders the usual layouts keep companion files in, relative to the model's folder and to the
# folder above it (ComfyUI: models/diffusion_models beside models/text_encoders, models/vae;
# Forge and A1111: models/Stable-diffusion beside models/text_encoder, models/VAE).
LAYOUT_FOLDERS = ("text_encoders", "text_encoder", "clip", "vae", "VAE", "ae", "t5")
_SUFFIXES = (".safetensors", ".pth", ".sft")


@dataclass(frozen=True)
class Found:
    """Where one companion comes from: "given" (--set), "blank" (--set with no path), "held" (inside
    the checkpoint), "found" (beside the model, `path`) or "missing"."""

    companion: Companion
    how: str
    path: Path | None = None
    exists: bool = True
    """For a given path: whether it exists on this machine."""


def resolve_companions(spec: FamilySpec, model_path: str | None, given: dict[str, str]) -> list[Found]:
    """Every companion of the family, looked up once per plan (the file system is read here only)."""
    if not spec.companions:
        return []
    model = Path(model_path).expanduser() if model_path else None
    keys = held_keys(model) if model is not None and any(c.held_key for c in spec.companions) else set()
    taken: set[Path] = set()
    out = []
    for companion in spec.companions:
        if companion.arg in given and not given[companion.arg].strip():
            out.append(Found(companion, "blank"))
        elif companion.arg in given:
            path = Path(given[companion.arg]).expanduser()
            out.append(Found(companion, "given", path, path.is_file() or (companion.folder_ok and path.is_dir())))
        elif holds(keys, companion):
            out.append(Found(companion, "held"))
        elif model is not None and (found := look_for(companion, model, taken)) is not None:
            taken.add(found.resolve())
            out.append(Found(companion, "found", found.resolve()))
        else:
            out.append(Found(companion, "missing", model))
    return out


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
    from kohyawiz.safetensors_header import read_safetensors_header

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


def eight_bit_sibling(path: Path, companion: Companion) -> Path | None:
    """Another file of the same companion in the same folder whose header stores it in 8 bits (the fp8
    T5-XXL that ComfyUI keeps beside the 16-bit one), or None."""
    for candidate in _candidates(path.parent):
        if candidate.resolve() == path.resolve() or candidate.suffix.lower() != ".safetensors":
            continue
        if any(fnmatch.fnmatch(candidate.name.lower(), pattern) for pattern in companion.names) and _stored_in_8_bits(
            candidate
        ):
            return candidate
    return None


def _stored_in_8_bits(path: Path) -> bool:
    from kohyawiz.errors import UserError
    from kohyawiz.safetensors_header import read_safetensors_header

    try:
        header = read_safetensors_header(path)
    except UserError:
        return False
    dtypes = [str(v.get("dtype", "")) for k, v in header.items() if k != "__metadata__" and isinstance(v, dict)]
    return bool(dtypes) and any(d.upper().startswith("F8") for d in dtypes)
