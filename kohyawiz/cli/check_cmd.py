"""`kohyawiz check DIR`: the dataset doctor. Exit code 1 when it finds errors."""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path

from kohyawiz.dataset.doctor import CheckOptions, check_dataset
from kohyawiz.dataset.scan import scan_training_dir
from kohyawiz.dataset.tags import BUILTIN_IMPLICATIONS, load_implications
from kohyawiz.facts import resolve_version


def run_check(args: argparse.Namespace) -> int:
    implications = dict(BUILTIN_IMPLICATIONS)
    if args.implications:
        for tag, implied in load_implications(Path(args.implications)).items():
            implications.setdefault(tag, set()).update(implied)
    options = CheckOptions(args.subject, args.tags, args.resolution, args.caption_extension, None, implications)
    scan = scan_training_dir(Path(args.dir), resolve_version(args.sd_scripts_version).image_extensions)
    findings = check_dataset(scan, options)
    if args.json:
        print(json.dumps([f.as_dict() for f in findings], indent=2))
    else:
        for concept in scan.concepts:
            print(f"{concept.folder.name}: {len(concept.images)} images, {concept.repeats} repeats")
        for finding in findings:
            where = f" {finding.path}" if finding.path else ""
            print(f"  {finding.level:<5} [{finding.rule}]{where}: {finding.message}")
        tally = Counter(f.level for f in findings)
        print(f"{tally['error']} errors, {tally['warn']} warnings, {tally['info']} notes")
    return 1 if any(f.level == "error" for f in findings) else 0
