"""`kohyawiz explain DIR`: each value with its rule id and reason, and the step arithmetic."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from kohyawiz.catalog import rule_catalog as rule_catalog  # re-export: its old home
from kohyawiz.cli.show import explain_lines
from kohyawiz.errors import UserError

_REQUIRED = ("script", "sd_scripts_version", "decisions", "figures", "findings", "launch")


def run_explain(args: argparse.Namespace) -> int:
    catalog = rule_catalog()
    wanted = str(args.dir).upper()
    if wanted in catalog or args.dir == "rules":
        for rule_id, (where, summary) in catalog.items():
            if args.dir == "rules" or rule_id == wanted:
                print(f"{rule_id:<20} {summary}  ({where})")
        return 0
    path = Path(args.dir).expanduser()
    if not path.exists() and re.fullmatch(r"[A-Za-z]-[A-Za-z0-9-]+", args.dir):
        raise UserError(f"no rule or constraint {args.dir}; `kohyawiz explain rules` lists them")
    if path.is_dir():
        path = path / "plan.json"
    from kohyawiz.door import read_json

    if not path.exists():
        raise UserError("no plan.json here; write one with `kohyawiz plan --out DIR`", where=str(path))
    data = read_json(path, "plan.json")
    missing = [k for k in _REQUIRED if not isinstance(data, dict) or k not in data]
    if missing:
        raise UserError(f"not a kohyawiz plan (no {missing[0]}); re-plan it with `kohyawiz plan`", where=str(path))
    try:
        lines = explain_lines(data)
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
        # plan.json may be any file someone handed over: a damaged one is one line, not a traceback.
        raise UserError(f"is not a plan kohyawiz wrote ({type(exc).__name__} reading {exc}); re-plan it with "
                        "`kohyawiz plan`", where=str(path)) from None  # fmt: skip
    print("\n".join(lines))
    return 0
