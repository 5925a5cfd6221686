"""The JSON header of a .safetensors file, read without loading a tensor (no torch needed).

Model inspection, companion lookup, the plan's parameter counts and the LoRA metadata check all
read it; it sits low so each can, whatever layer it is in.
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any

from kohyawiz.door import parse_json
from kohyawiz.errors import UserError

MAX_HEADER = 200 * 1024 * 1024
"""A header larger than this is no model file (the real ones are a few megabytes at most)."""


def read_safetensors_header(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            raw = handle.read(8)
            if len(raw) != 8:
                raise UserError("too short to be a .safetensors file", where=str(path))
            (size,) = struct.unpack("<Q", raw)
            if size > MAX_HEADER:
                raise UserError("not a .safetensors file (implausible header size)", where=str(path))
            text = handle.read(size).decode("utf-8")
        header = parse_json(text, "safetensors header", str(path))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise UserError(f"cannot read the safetensors header: {exc}", where=str(path)) from exc
    if not isinstance(header, dict):
        raise UserError("not a .safetensors file", where=str(path))
    return header


def holds_tensor_data(path: Path) -> bool:
    """The file carries its tensors' bytes (not a header-only stand-in)."""
    try:
        header = read_safetensors_header(path)
        with path.open("rb") as handle:
            (size,) = struct.unpack("<Q", handle.read(8))
        end = max((int(v["data_offsets"][1]) for k, v in header.items()
                   if k != "__metadata__" and isinstance(v, dict) and isinstance(v.get("data_offsets"), list)),
                  default=0)  # fmt: skip
        return end > 0 and path.stat().st_size >= 8 + size + end
    except (UserError, OSError, ValueError, TypeError, IndexError, struct.error):
        return False
