"""`kohyawiz demo`: make a demo dataset, plan it with a shipped preset, and explain the plan.
`--train` goes on to the whole pipeline with sd-scripts installed: a random model built in
sd-scripts' environment, a few CPU steps through `kohyawiz train`'s own functions, `runs show`."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING

from kohyawiz.assemble import PlanRequest, plan_from_request
from kohyawiz.cli.show import explain_lines, print_summary
from kohyawiz.demo import make_demo_dataset, make_train_dataset
from kohyawiz.emit import write_plan
from kohyawiz.errors import UserError

TRAIN_FAMILY = "anima"
"""The family `demo --train` builds: every tokenizer it needs ships inside the sd-scripts checkout,
so nothing is downloaded (its DiT cannot be smaller than the loader's 2.1 B parameters)."""
INSTALL = "kohyawiz sd-scripts install"

if TYPE_CHECKING:
    from kohyawiz.run.sdscripts.locate import SdScripts


def run_demo(args: argparse.Namespace) -> int:
    root = Path(args.out).expanduser().resolve()
    dataset = make_demo_dataset(root)
    request = PlanRequest(
        out_dir=root / "plan",
        preset="character-sd15",
        answers={"vram_gb": 12, "samples": True},
        dataset=dataset,
    )
    plan, _ = plan_from_request(request)
    written = write_plan(plan)
    print("\n".join(explain_lines(json.loads(written["plan.json"].read_text()))))
    print()
    print_summary(plan, written)
    return train_demo(root, args) if args.train else 0


def _demo_sd_scripts(args: argparse.Namespace) -> SdScripts:
    from kohyawiz.families import family_spec
    from kohyawiz.run.sdscripts.locate import find_sd_scripts

    try:
        sd = find_sd_scripts(args.sd_scripts, args.python)
    except UserError as exc:
        raise UserError(f"`demo --train` needs sd-scripts: install it with `{INSTALL}` (or pass --sd-scripts DIR)") from exc
    script = family_spec(TRAIN_FAMILY).script
    if not (sd.root / script).is_file():
        raise UserError(f"this sd-scripts has no {script}: run `{INSTALL}` for the version kohyawiz knows",
                        where=str(sd.root))  # fmt: skip
    return sd


def train_demo(root: Path, args: argparse.Namespace) -> int:
    from kohyawiz.cli.runs_cmd import show_lines
    from kohyawiz.cli.train_cmd import ConsoleView
    from kohyawiz.run.random_model import train_on_random_model
    from kohyawiz.run.records.history import read_history
    from kohyawiz.run.records.plot import loss_plot
    from kohyawiz.run.records.record import kohyawiz_home

    if args.steps < 1:
        raise UserError(f"--steps must be 1 or more, not {args.steps}")
    sd = _demo_sd_scripts(args)
    builds = kohyawiz_home() / "random-models" / TRAIN_FAMILY
    print(
        f"\nTraining for real with sd-scripts at {sd.root}: a random {TRAIN_FAMILY} model is built in its environment "
        f"into {builds} (once: about 4.5 GB on disk, 9 GB of memory and a few minutes on a CPU), then trained for "
        f"{args.steps} steps on {root / 'train-dataset'}."
    )
    with ConsoleView(args.plain) as view:
        trial = train_on_random_model(
            sd, TRAIN_FAMILY, make_train_dataset(root), root / "train-plan", builds, steps=args.steps, on_event=view.show
        )
    print(f"Random model: {', '.join(trial.model.random)}; real: {', '.join(trial.model.real)}"
          + (" (reused from an earlier demo)" if trial.model.reused else ""))  # fmt: skip
    if trial.outcome is None:
        raise UserError("preflight: " + "; ".join(trial.problems), where=str(trial.plan_dir))
    history = read_history(trial.record.folder)
    plot = loss_plot(history, trial.record.folder / "loss.png") if history.losses else None
    print(f"\n$ kohyawiz runs show {trial.record.folder.name}")
    print("\n".join(show_lines(history, plot, None)))
    return 0 if trial.outcome.status == "completed" else 1
