"""`kohyawiz presets [list|show NAME]`."""

from __future__ import annotations

import argparse

from kohyawiz.errors import UserError
from kohyawiz.presets import find_preset, load_preset, read_preset_file, shipped_presets


def run_presets(args: argparse.Namespace) -> int:
    if args.action == "list":
        presets = shipped_presets()
        width = max(len(n) for n in presets)
        for name, path in presets.items():
            print(f"{name:<{width}}  {read_preset_file(path).description}")
        return 0
    if not args.name:
        raise UserError("`kohyawiz presets show` needs a preset name or file")
    preset = load_preset(args.name)
    print(f"# {preset.name}: {preset.description}")
    print(f"# layers: {' -> '.join(p.name for p in preset.chain)}")
    print(find_preset(args.name).read_text(encoding="utf-8"), end="")
    return 0
