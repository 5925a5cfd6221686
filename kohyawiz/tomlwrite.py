"""A small TOML writer for the files sd-scripts reads.

sd-scripts reads with the old `toml` package, so the output keeps to what that parser accepts:
basic strings, homogeneous arrays, plain tables and arrays of tables. Each key may carry a
trailing comment (the rule id that chose it).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from typing import Any


def value(item: Any) -> str:
    if isinstance(item, bool):
        return "true" if item else "false"
    if isinstance(item, int):
        if not -(2**63) <= item < 2**63:
            raise ValueError(f"{item} is beyond what a TOML integer holds")
        return str(item)
    if isinstance(item, float):
        if not math.isfinite(item):
            raise ValueError(f"TOML cannot hold {item!r} for sd-scripts")
        return repr(item)
    if isinstance(item, str):
        return json.dumps(item, ensure_ascii=False).replace("\x7f", "\\u007f")  # TOML forbids DEL raw
    if isinstance(item, list | tuple):
        kinds = {type(v) for v in item}
        if len(kinds) > 1:
            raise ValueError(f"mixed array {item!r}: the toml parser sd-scripts uses refuses it")
        return "[" + ", ".join(value(v) for v in item) + "]"
    raise TypeError(f"cannot write {type(item).__name__} to TOML")


def key(name: str) -> str:
    if name and all(c.isalnum() or c in "_-" for c in name):
        return name
    return json.dumps(name, ensure_ascii=False).replace("\x7f", "\\u007f")


def pairs(items: Iterable[tuple[str, Any, str | None]], indent: str = "") -> list[str]:
    lines = []
    for name, item, comment in items:
        line = f"{indent}{key(name)} = {value(item)}"
        if comment:
            line += f"  # {comment}"
        lines.append(line)
    return lines
