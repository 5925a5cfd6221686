"""`kohyawiz inspect`, `kohyawiz prepare`, `kohyawiz tags`: the model inspector and the dataset tools."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from kohyawiz.errors import UserError


def run_inspect(args: argparse.Namespace) -> int:
    from kohyawiz.families import SPECS
    from kohyawiz.models import inspect_model

    info = inspect_model(args.model, online=args.online)
    if args.json:
        print(json.dumps(info.as_dict(), indent=2))
        return 0
    print(f"{info.source}: {info.kind}")
    print(f"  family: {info.family or 'unknown (pass --family)'}")
    spec = SPECS.get(info.family or "")
    if spec is not None and spec.dit:
        # a flow-matching transformer: no v-prediction or zSNR; its resolution is its family's
        print("  v-prediction, zero terminal SNR: not used (flow matching)")
        native = info.native_resolution or f"{spec.resolution} (the family's: {spec.doc})"
    else:
        print(f"  v-prediction: {'yes' if info.vpred else 'no sign of it'}; "
              f"zero terminal SNR: {'yes' if info.zsnr else 'no sign of it'}")  # fmt: skip
        native = info.native_resolution or "not stated"
    print(f"  native resolution: {native}")
    for note in info.notes:
        print(f"  - {note}")
    return 0


def run_prepare(args: argparse.Namespace) -> int:
    from kohyawiz.dataset.prepare import prepare

    report = prepare(Path(args.raw), Path(args.into), webp_to_png=args.webp_to_png)
    for entry in report:
        what = entry.problem or ", ".join(entry.actions)
        print(f"  {entry.source.name}: {what}")
    problems = sum(1 for e in report if e.problem)
    print(
        f"{len(report) - problems} images into {Path(args.into).expanduser()}, {problems} skipped; {args.raw} was not changed"
    )
    return 1 if problems else 0


def run_tags(args: argparse.Namespace) -> int:
    from kohyawiz.dataset.tags import BUILTIN_IMPLICATIONS, caption_fixes, load_implications, write_caption_fixes
    from kohyawiz.door import present

    table = {k: set(v) for k, v in BUILTIN_IMPLICATIONS.items()}
    if args.implications:
        for tag, implied in load_implications(Path(args.implications)).items():
            table.setdefault(tag, set()).update(implied)
    skipped: list[Path] = []
    fixes = caption_fixes(Path(args.dir), table, args.caption_extension, args.trigger, skipped)
    for path in skipped:
        if present(path) and not path.is_symlink() and not path.is_file():
            why = "it is a folder, pipe or device, not a caption file; kohyawiz does not replace it"
        else:
            why = "it or its image is a link that leads out of its folder; kohyawiz neither reads nor writes through it"
        print(f"skipped {path}: {why}")
    for caption, old, new in fixes:
        print(f"{caption}\n  - {old.strip()}\n  + {new}")
    if not fixes:
        print("every caption already starts with its trigger, with no duplicate or implied tags")
        return 0
    if not args.write:
        print(f"{len(fixes)} captions would change; run again with --write to apply")
        return 0
    write_caption_fixes(fixes)
    print(f"{len(fixes)} captions written")
    return 0


def dispatch(args: argparse.Namespace) -> int:
    handlers = {"inspect": run_inspect, "prepare": run_prepare, "tags": run_tags}
    if args.command not in handlers:
        raise UserError(f"unknown command {args.command}")
    return handlers[args.command](args)
