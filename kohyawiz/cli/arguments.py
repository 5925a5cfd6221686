"""Argument definitions for every command, kept free of heavy imports so `--help` starts fast."""

from __future__ import annotations

import argparse
from typing import Any

from kohyawiz.families import trainer_scripts


def add_check_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "dir", metavar="DIR|FILE", help="the parent of your N_name image folders, a dataset config or a --config_file TOML"
    )
    parser.add_argument(
        "--script", choices=trainer_scripts(),
        help="the trainer a --config_file is for (default: guessed from its keys)",
    )  # fmt: skip
    parser.add_argument(
        "--subject", choices=("character", "concept", "object", "clothing", "style"), default="character"
    )
    parser.add_argument("--tags", choices=("natural", "booru", "e6"), default="natural", help="the model's tag style")
    parser.add_argument(
        "--resolution", type=int, default=512, help="training resolution to compare sizes with (default 512)"
    )
    parser.add_argument("--asymmetric", action="store_true", help="the subject has asymmetric details (D-ASYM)")
    parser.add_argument("--caption-extension", default=".txt")
    parser.add_argument("--implications", metavar="CSV", help="antecedent,consequent tag implications")
    parser.add_argument("--sd-scripts-version", metavar="ID")
    parser.add_argument("--json", action="store_true", help="findings as JSON")


def add_train_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("dir", metavar="DIR", help="a plan folder written by `kohyawiz plan`")
    parser.add_argument(
        "--sd-scripts",
        metavar="DIR",
        help="sd-scripts checkout (else $KOHYAWIZ_SD_SCRIPTS, vendor/sd-scripts, kohya_ss)",
    )
    parser.add_argument("--python", metavar="PATH", help="Python of sd-scripts' environment (default: its venv)")
    parser.add_argument("--dry-run", action="store_true", help="print the exact command and stop")
    parser.add_argument("--resume", action="store_true", help="resume from the last saved state")
    parser.add_argument("--plain", action="store_true", help="plain progress lines instead of a live bar")


def add_interop_arguments(commands: Any) -> None:
    imp = commands.add_parser("import", help="a kohya_ss GUI JSON or sd-scripts TOML as a kohyawiz preset")
    imp.add_argument("file", metavar="FILE", help="GUI config (.json), sd-scripts --config_file or config_lora-*.toml")
    imp.add_argument("--dataset-config", metavar="TOML", help="the sd-scripts dataset config that goes with it")
    imp.add_argument("--out", metavar="PRESET", help="where to write the preset (default: <name>.kohyawiz.toml here)")
    imp.add_argument("--json", action="store_true", help="print the report as JSON")
    exp = commands.add_parser("export", help="a plan as a kohya_ss GUI config, an sbatch script or a SkyPilot task")
    exp.add_argument("dir", metavar="DIR", help="a plan folder")
    what = exp.add_mutually_exclusive_group(required=True)
    what.add_argument("--kohya-gui", metavar="FILE", nargs="?", const="",
                      help="write GUI JSON (default DIR/kohya_gui.json)")  # fmt: skip
    what.add_argument("--slurm", metavar="FILE", nargs="?", const="",
                      help="write an sbatch script that trains the plan on Slurm (default DIR/train.sbatch)")  # fmt: skip
    what.add_argument("--skypilot", metavar="FOLDER", nargs="?", const="",
                      help="write a SkyPilot task with the plan re-pointed for it (default DIR/skypilot/)")  # fmt: skip
    slurm = exp.add_argument_group("with --slurm")
    slurm.add_argument("--partition", metavar="P", help="the Slurm partition")
    slurm.add_argument("--gpus-per-node", type=int, metavar="N", help="GPUs to ask for per node (default the plan's)")
    slurm.add_argument("--nodes", type=int, metavar="M", help="nodes (must be the plan's --nodes)")
    slurm.add_argument("--time", metavar="T", help="time limit, e.g. 12:00:00")
    slurm.add_argument("--sd-scripts", metavar="DIR", help="the sd-scripts checkout the nodes run (default: as train)")
    slurm.add_argument("--python", metavar="PATH", help="Python of its environment")
    sky = exp.add_argument_group("with --skypilot")
    sky.add_argument("--accelerator", metavar="NAME[:N]", help="default: the smallest that fits the memory estimate")
    sky.add_argument("--bucket", metavar="URL", help="mount this bucket as the output folder (s3://..., gs://...)")
    sky.add_argument("--secret", action="append", default=[], metavar="NAME",
                     help="an environment variable SkyPilot passes at launch (named, never written; repeatable)")  # fmt: skip
    sky.add_argument("--torch", metavar="SPEC", help="the torch requirement for setup (default: for the driver)")
    sky.add_argument("--cloud", metavar="NAME", help="where to run (aws, gcp, runpod, lambda, kubernetes, ...)")
    diff = commands.add_parser("diff", help="compare two configs; with one, compare it with kohyawiz's own plan")
    diff.add_argument("a", metavar="A", help="plan folder, plan.json, GUI JSON or sd-scripts TOML")
    diff.add_argument("b", metavar="B", nargs="?", help="the other one (default: kohyawiz's plan for A's answers)")


def add_dataset_tool_arguments(commands: Any) -> None:
    inspect = commands.add_parser("inspect", help="what a model is: family, v-prediction, zSNR, resolution")
    inspect.add_argument("model", metavar="MODEL", help=".safetensors file, diffusers folder or cached Hugging Face id")
    inspect.add_argument("--json", action="store_true")
    inspect.add_argument(
        "--online", action="store_true", help="for a Hub id not in the cache: fetch its small config files (no weights)"
    )
    prepare = commands.add_parser("prepare", help="copy raw images into a training folder, fixed (raw never changes)")
    prepare.add_argument("raw", metavar="RAW", help="folder of raw images (with their captions)")
    prepare.add_argument("--into", required=True, metavar="DIR/N_name", help="the training folder to fill")
    prepare.add_argument("--webp-to-png", action="store_true", help="convert webp images to PNG")
    tags = commands.add_parser("tags", help="trigger first, no duplicates, no implied tags (dry run unless --write)")
    tags.add_argument("dir", metavar="DIR", help="the parent of your N_name folders")
    tags.add_argument(
        "--trigger", action="append", metavar="TAG", help="trigger tag(s); default: from each folder name"
    )
    tags.add_argument("--implications", metavar="CSV", help="antecedent,consequent tag implications")
    tags.add_argument("--caption-extension", default=".txt")
    tags.add_argument("--write", action="store_true", help="apply the changes shown")
