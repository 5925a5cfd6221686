"""`kohyawiz check DIR|FILE`: the dataset doctor, or a dataset config / --config_file checked key by
key against the target sd-scripts. Exit code 1 when it finds what sd-scripts would stop on."""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path

from kohyawiz.dataset.options import CheckOptions
from kohyawiz.dataset.tags import BUILTIN_IMPLICATIONS, load_implications
from kohyawiz.decisions import Finding


def run_check(args: argparse.Namespace) -> int:
    implications = dict(BUILTIN_IMPLICATIONS)
    if args.implications:
        for tag, implied in load_implications(Path(args.implications)).items():
            implications.setdefault(tag, set()).update(implied)
    options = CheckOptions(
        args.subject, args.tags, args.resolution, args.caption_extension, None, args.asymmetric, implications
    )
    target = Path(args.dir).expanduser()
    if target.is_file():
        return _report(*toml_findings(target, options, args.sd_scripts_version, getattr(args, "script", None)),
                       args.json)  # fmt: skip
    from kohyawiz.dataset.doctor import check_dataset
    from kohyawiz.dataset.scan import scan_training_dir
    from kohyawiz.facts import resolve_version

    scan = scan_training_dir(target, resolve_version(args.sd_scripts_version).image_extensions)
    findings = check_dataset(scan, options)
    return _report(
        findings, [f"{c.folder.name}: {len(c.images)} images, {c.repeats} repeats" for c in scan.concepts], args.json
    )


def toml_findings(path: Path, options: CheckOptions, version: str | None, script: str | None) -> tuple[list, list[str]]:
    """A dataset config (every key per level, then the folders) or a --config_file TOML (every key)."""

    from kohyawiz.door import read_toml
    from kohyawiz.errors import UserError
    from kohyawiz.facts import load_interface
    from kohyawiz.interop.config_check import (
        check_config_file,
        check_dataset_config,
        guess_script,
        is_dataset_config,
    )

    config = read_toml(path, "dataset config or --config_file")
    interface = load_interface(version)
    if not is_dataset_config(config):
        chosen = script or guess_script(interface, config)
        return check_config_file(interface, chosen, config), [f"{path}: a --config_file for {chosen}, "
                                                               f"sd-scripts {interface.version}"]  # fmt: skip
    findings = check_dataset_config(interface, config)
    if any(f.level == "error" for f in findings):
        # sd-scripts stops on the config before it reads a folder; so does this check, which keeps
        # the refusal as quick as the mistake is small.
        findings.append(Finding("K-CHECK", "info", "the image folders are checked once the config has no errors"))
        return findings, [f"{path}: a dataset config, sd-scripts {interface.version}"]
    try:
        findings += dataset_config_findings(config, path, options)
    except UserError as exc:
        if not findings:
            raise
        findings.append(Finding("K-CHECK", "error", str(exc)))
    return findings, [f"{path}: a dataset config, sd-scripts {interface.version}"]


def dataset_config_findings(config: dict, path: Path, options: CheckOptions) -> list:
    """The folder checks for each subset of an sd-scripts dataset config."""
    from kohyawiz.dataset.doctor import check_folders
    from kohyawiz.errors import UserError

    general = config.get("general", {}) if isinstance(config.get("general"), dict) else {}
    options.caption_extension = str(general.get("caption_extension", ".caption"))
    folders = []
    for dataset in config.get("datasets", []) if isinstance(config.get("datasets"), list) else []:
        for subset in dataset.get("subsets", []) if isinstance(dataset, dict) else []:
            if isinstance(subset, dict) and "image_dir" in subset:
                folder = Path(str(subset["image_dir"]))
                folders.append((folder, folder.name.partition("_")[2] or folder.name))
    if not folders:
        raise UserError("no [[datasets.subsets]] with an image_dir", where=str(path))
    return check_folders(folders, options)


def _report(findings: list, headlines: list[str], as_json: bool) -> int:
    if as_json:
        print(json.dumps([f.as_dict() for f in findings], indent=2))
    else:
        for line in headlines:
            print(line)
        for finding in findings:
            where = f" {finding.path}" if finding.path else ""
            print(f"  {finding.level:<5} [{finding.rule}]{where}: {finding.message}")
        tally = Counter(f.level for f in findings)
        print(f"{tally['error']} errors, {tally['warn']} warnings, {tally['info']} notes")
    return 1 if any(f.level == "error" for f in findings) else 0
