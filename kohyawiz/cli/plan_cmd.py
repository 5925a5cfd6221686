"""`kohyawiz plan`: flags (and a preset) in, a plan folder out."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from kohyawiz.assemble import PlanRequest, parse_concept, parse_override, plan_from_request
from kohyawiz.cli.show import print_summary
from kohyawiz.emit import write_plan
from kohyawiz.vocabulary import by_dest

# flag dest -> answers field path, from the one declaration of the answers
_ANSWER_FLAGS = by_dest()


def answers_from_flags(args: argparse.Namespace) -> dict[str, Any]:
    answers: dict[str, Any] = {}
    for dest, path in _ANSWER_FLAGS.items():
        value = getattr(args, dest, None)
        if value is None:
            continue
        node = answers
        for part in path[:-1]:
            node = node.setdefault(part, {})
        node[path[-1]] = value
    return answers


def request_from_args(args: argparse.Namespace) -> PlanRequest:
    answers = answers_from_flags(args)
    if "gpu_name" not in answers and hasattr(args, "gpu"):
        from kohyawiz.run.gpu import detect_gpus

        gpus = detect_gpus()  # the card this machine has, as the wizard's hardware step reads it
        if gpus:
            answers["gpu_name"] = gpus[0].name
    return PlanRequest(
        out_dir=Path(args.out),
        preset=args.preset,
        answers=answers,
        dataset=Path(args.dataset) if args.dataset else None,
        concept_counts=[parse_concept(c) for c in args.concept],
        overrides={
            **dict(parse_override(o) for o in args.overrides),
            **({"log_with": args.log_with} if getattr(args, "log_with", None) else {}),
        },
        sd_scripts_version=args.sd_scripts_version,
        force=args.force,
    )


def run_plan(args: argparse.Namespace) -> int:
    request = request_from_args(args)
    if getattr(args, "sd_scripts_dir", None):
        from kohyawiz.cli.sd_scripts_cmd import version_for_checkout

        request.sd_scripts_version, new = version_for_checkout(args.sd_scripts_dir, args.sd_python)
        if new:
            print(f"Learned the interface of {args.sd_scripts_dir} as {request.sd_scripts_version}")
    plan, _ = plan_from_request(request)
    written = write_plan(plan, force=bool(getattr(args, "force", False)))
    print_summary(plan, written)
    return 0
