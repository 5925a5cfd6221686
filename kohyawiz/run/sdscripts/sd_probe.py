"""Run by sd-scripts' own Python (cwd = the checkout), never imported by kohyawiz: feeds plan
folders to sd-scripts' real argument parser, config loader and dataset-config validator, then does
what the trainer's train() does before it loads a model (argument checks, the dataset group, the
trainer's own assert_extra_args), and prints one JSON line per plan with sd-scripts' own step count. `kohyawiz train` runs it as a preflight; the opt-in tests run it over a matrix of plans.

    python sd_probe.py PLAN_DIR...
"""

from __future__ import annotations

# This folder holds kohyawiz modules (queue.py, ...) that must not shadow the standard library in
# sd-scripts' interpreter, which puts a script's own folder first on sys.path.
import os.path
import sys

if sys.path and sys.path[0] and os.path.realpath(sys.path[0]) == os.path.dirname(os.path.realpath(__file__)):
    sys.path.pop(0)

import argparse
import contextlib
import io
import json
from pathlib import Path

import toml


def flatten(path: Path) -> dict:
    flat: dict = {}
    for key, value in toml.load(path).items():
        flat.update(value if isinstance(value, dict) else {key: value})
    return flat


def as_cli(parser: argparse.ArgumentParser, values: dict) -> list[str]:
    actions = {a.dest: a for a in parser._actions}
    argv: list[str] = []
    for key, value in values.items():
        action = actions[key]
        flag = action.option_strings[-1]
        if isinstance(value, bool):
            if value:
                argv.append(flag)
        elif isinstance(value, list):
            argv += [flag, *[str(v) for v in value]]
        else:
            argv += [flag, str(value)]
    return argv


def _trainer(module):
    """The NetworkTrainer subclass a trainer script defines (train_network.py: the base itself)."""
    import train_network

    classes = [
        v for v in vars(module).values()
        if isinstance(v, type) and issubclass(v, train_network.NetworkTrainer) and v.__module__ == module.__name__
    ]
    return (classes or [train_network.NetworkTrainer])[-1]()


def run_time_checks(module, parser, plan_dir: Path, processes: int) -> tuple[list[str], dict]:
    """What train_network.py's train() does before it loads a model: the real config loader, the
    argument checks, the dataset blueprint and group, and the trainer's own assert_extra_args.
    Returns problems and the figures sd-scripts itself computes."""
    import math

    from library import config_util, strategy_base, train_util

    figures: dict = {}
    argv = ["--config_file", str(plan_dir / "config.toml"), "--dataset_config", str(plan_dir / "dataset.toml")]
    stderr = io.StringIO()
    saved = sys.argv
    sys.argv = [str(module.__file__), *argv]  # the loader parses the command line again
    try:
        with contextlib.redirect_stderr(stderr):
            args = train_util.read_config_from_file(parser.parse_args(argv), parser)
    except SystemExit:
        return [f"config loader: {stderr.getvalue().strip().splitlines()[-1:]}"], figures
    finally:
        sys.argv = saved
    try:
        train_util.verify_training_args(args)
        train_util.prepare_dataset_args(args, True)
        trainer = _trainer(module)
        strategy_base.LatentsCachingStrategy._strategy = None  # one process checks many plans
        strategy_base.LatentsCachingStrategy.set_strategy(trainer.get_latents_caching_strategy(args))
        sanitizer = config_util.ConfigSanitizer(True, True, args.masked_loss, True)
        blueprint = config_util.BlueprintGenerator(sanitizer).generate(config_util.load_user_config(args.dataset_config), args)
        train_group, val_group = config_util.generate_dataset_group_by_blueprint(blueprint.dataset_group)
        if len(train_group) == 0:  # train() logs "No data found" and returns before the trainer's checks
            return [], {"batches_per_epoch": 0, "total_steps": 0, "network_module": args.network_module,
                        "skipped": "no images: sd-scripts stops before the trainer's own checks"}
        if args.cache_latents:
            assert train_group.is_latent_cacheable(), "when caching latents, either color_aug or random_crop cannot be used"
        trainer.assert_extra_args(args, train_group, val_group)
        network = __import__(args.network_module, fromlist=["create_network"])
        if not hasattr(network, "create_network"):
            return [f"{args.network_module} has no create_network"], figures
    except Exception as exc:  # whatever sd-scripts raises is the finding
        return [f"run-time check: {type(exc).__name__}: {exc}"], figures
    batches = len(train_group)
    per_epoch = math.ceil(batches / processes / args.gradient_accumulation_steps)
    total = args.max_train_epochs * per_epoch if args.max_train_epochs is not None else args.max_train_steps
    figures = {"batches_per_epoch": batches, "steps_per_epoch": per_epoch, "total_steps": total,
               "network_module": args.network_module}
    return [], figures


def check(plan_dir: Path) -> dict:
    plan = json.loads((plan_dir / "plan.json").read_text())
    module = __import__(plan["script"].removesuffix(".py"))
    if not hasattr(module, "setup_parser"):
        return {"plan": str(plan_dir), "ok": True, "skipped": "this sd-scripts has no setup_parser()", "problems": []}
    parser = module.setup_parser()
    dests = {a.dest for a in parser._actions}
    config = flatten(plan_dir / "config.toml")
    unknown = sorted(set(config) - dests)
    problems: list[str] = [f"unknown key {k}" for k in unknown]
    stderr = io.StringIO()
    try:
        with contextlib.redirect_stderr(stderr):
            namespace = parser.parse_args(as_cli(parser, {k: v for k, v in config.items() if k in dests}))
    except SystemExit:
        return {"plan": str(plan_dir), "ok": False, "problems": [*problems, stderr.getvalue().strip().splitlines()[-1]]}
    try:
        from library import config_util
    except ImportError as exc:
        return {
            "plan": str(plan_dir),
            "ok": not problems,
            "skipped": f"no dataset validator ({exc})",
            "problems": problems,
        }

    sanitizer = config_util.ConfigSanitizer(True, True, False, True)
    user_config = toml.load(plan_dir / "dataset.toml")
    try:
        blueprint = config_util.BlueprintGenerator(sanitizer).generate(user_config, namespace)
        subsets = [s.params.num_repeats for d in blueprint.dataset_group.datasets for s in d.subsets]
    except Exception as exc:  # the validator's own error is the finding
        problems.append(f"dataset config: {type(exc).__name__}: {exc}")
        subsets = []
    figures: dict = {}
    if not problems and hasattr(config_util, "generate_dataset_group_by_blueprint"):
        processes = int(plan.get("figures", {}).get("processes", 1) or 1)
        more, figures = run_time_checks(module, parser, plan_dir, processes)
        problems += more
    return {"plan": str(plan_dir), "ok": not problems, "problems": problems, "repeats": subsets, **figures}


if __name__ == "__main__":
    sys.path.insert(0, str(Path.cwd()))
    for folder in sys.argv[1:]:
        print(json.dumps(check(Path(folder))), flush=True)
