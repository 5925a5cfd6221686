"""The memory verdict in words, shared by `kohyawiz plan`, `explain`, the wizard and `runs show`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def verdict_word(vram: Mapping[str, Any]) -> str:
    word = vram.get("verdict")
    if isinstance(word, str):
        return word
    return "fits" if vram.get("fits") else "does NOT fit"


def memory_line(vram: Mapping[str, Any], cards: str = "") -> str:
    """`VRAM about X of Y GB: fits (training decides; 0.6 GB reserve kept free) ...; RAM about X of Y GB`.
    `cards` (", on each of N cards ...") follows the VRAM part it is about, before the RAM of one machine."""
    line = f"VRAM about {vram['estimate_gb']:.1f} of {vram['budget_gb']:g} GB: {verdict_word(vram)}"
    notes = []
    if vram.get("phase"):
        notes.append(f"{str(vram['phase']).replace('_', ' ')} decides")
    if vram.get("reserve_gb"):
        notes.append(f"{vram['reserve_gb']:g} GB reserve kept free")
    if vram.get("correction"):
        notes.append(f"x{vram['correction']:g} measured on this GPU")
    if notes:
        line += f" ({'; '.join(notes)})"
    if vram.get("steps"):
        line += f" (after: {'; '.join(vram['steps'])})"
    if not vram.get("calibrated", True):
        line += " [estimate]"
    line += cards
    ram = vram.get("ram")
    if isinstance(ram, Mapping):
        line += "; " + ram_line(ram)
    return line


def ram_line(ram: Mapping[str, Any]) -> str:
    machine = ram.get("machine_gb")
    if machine is None:
        return f"RAM about {ram['estimate_gb']:.0f} GB (machine's unknown: --ram GB)"
    word = "fits" if ram.get("fits", True) else "does NOT fit"
    return f"RAM about {ram['estimate_gb']:.0f} of {machine:g} GB: {word}"
