"""Run by sd-scripts' own Python (cwd = the checkout), never imported by kohyawiz: feeds plan
folders to sd-scripts' real argument parser and dataset-config validator, and prints one JSON line
per plan. `kohyawiz train` runs it as a preflight; the opt-in tests run it over a matrix of plans.

    python sd_probe.py PLAN_DIR...
"""

from __future__ import annotations

import sys

# This folder holds kohyawiz modules (queue.py, ...) that must not shadow the standard library in
# sd-scripts' interpreter, which puts a script's own folder first on sys.path.
if sys.path and sys.path[0] and __file__.startswith(sys.path[0]):
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
    return {"plan": str(plan_dir), "ok": not problems, "problems": problems, "repeats": subsets}


if __name__ == "__main__":
    sys.path.insert(0, str(Path.cwd()))
    for folder in sys.argv[1:]:
        print(json.dumps(check(Path(folder))), flush=True)
