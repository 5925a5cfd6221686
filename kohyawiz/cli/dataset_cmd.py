"""`kohyawiz inspect`, `kohyawiz prepare`, `kohyawiz tags`: the model inspector and the dataset tools."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from kohyawiz.errors import UserError


def add_arguments(commands: Any) -> None:
    inspect = commands.add_parser("inspect", help="what a model is: family, v-prediction, zSNR, resolution")
    inspect.add_argument("model", metavar="MODEL", help=".safetensors file, diffusers folder or cached Hugging Face id")
    inspect.add_argument("--json", action="store_true")
    prepare = commands.add_parser("prepare", help="copy raw images into a training folder, fixed (raw never changes)")
    prepare.add_argument("raw", metavar="RAW", help="folder of raw images (with their captions)")
    prepare.add_argument("--into", required=True, metavar="DIR/N_name", help="the training folder to fill")
    prepare.add_argument("--webp-to-png", action="store_true", help="convert webp images to PNG")
    tags = commands.add_parser("tags", help="trigger first, no duplicates, no implied tags (dry run unless --write)")
    tags.add_argument("dir", metavar="DIR", help="the parent of your N_name folders")
    tags.add_argument("--trigger", action="append", metavar="TAG", help="trigger tag(s); default: from each folder name")
    tags.add_argument("--implications", metavar="CSV", help="antecedent,consequent tag implications")
    tags.add_argument("--caption-extension", default=".txt")
    tags.add_argument("--write", action="store_true", help="apply the changes shown")


def run_inspect(args: argparse.Namespace) -> int:
    from kohyawiz.models import inspect_model

    info = inspect_model(args.model)
    if args.json:
        print(json.dumps(info.as_dict(), indent=2))
        return 0
    print(f"{info.source}: {info.kind}")
    print(f"  family: {info.family or 'unknown (pass --family)'}")
    print(f"  v-prediction: {'yes' if info.vpred else 'no sign of it'}; zero terminal SNR: {'yes' if info.zsnr else 'no sign of it'}")
    print(f"  native resolution: {info.native_resolution or 'not stated'}")
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
    print(f"{len(report) - problems} images into {Path(args.into).expanduser()}, {problems} skipped; {args.raw} was not changed")
    return 1 if problems else 0


def run_tags(args: argparse.Namespace) -> int:
    from kohyawiz.dataset.scan import scan_training_dir
    from kohyawiz.dataset.tags import BUILTIN_IMPLICATIONS, fix_caption, load_implications, split_tags
    from kohyawiz.emit import write_atomic
    from kohyawiz.facts import resolve_version

    table = dict(BUILTIN_IMPLICATIONS)
    if args.implications:
        for tag, implied in load_implications(Path(args.implications)).items():
            table.setdefault(tag, set()).update(implied)
    scan = scan_training_dir(Path(args.dir), resolve_version(None).image_extensions, read_sizes=False)
    changes: list[tuple[Path, str]] = []
    for concept in scan.concepts:
        triggers = args.trigger or [t.strip() for t in concept.name.split(",") if t.strip()]
        for image in concept.images:
            caption = image.with_suffix(args.caption_extension)
            try:
                old = caption.read_text(encoding="utf-8") if caption.is_file() else ""
            except UnicodeDecodeError:
                print(f"  skipped {caption}: not UTF-8")
                continue
            new = ", ".join(fix_caption(split_tags(old), triggers, table))
            if new != old.strip():
                changes.append((caption, new))
                print(f"{caption}\n  - {old.strip()}\n  + {new}")
    if not changes:
        print("every caption already starts with its trigger, with no duplicate or implied tags")
        return 0
    if not args.write:
        print(f"{len(changes)} captions would change; run again with --write to apply")
        return 0
    for caption, new in changes:
        write_atomic(caption, new + "\n")
    print(f"{len(changes)} captions written")
    return 0


def dispatch(args: argparse.Namespace) -> int:
    handlers = {"inspect": run_inspect, "prepare": run_prepare, "tags": run_tags}
    if args.command not in handlers:
        raise UserError(f"unknown command {args.command}")
    return handlers[args.command](args)
