"""`kohyawiz explain DIR`: each value with its rule id and reason, and the step arithmetic."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from kohyawiz.cli.show import explain_lines
from kohyawiz.errors import UserError

_REQUIRED = ("script", "sd_scripts_version", "decisions", "figures", "findings", "launch")


def run_explain(args: argparse.Namespace) -> int:
    path = Path(args.dir).expanduser()
    if path.is_dir():
        path = path / "plan.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError("no plan.json here; write one with `kohyawiz plan --out DIR`", where=str(path)) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UserError(f"cannot read the plan: {exc}", where=str(path)) from exc
    missing = [k for k in _REQUIRED if not isinstance(data, dict) or k not in data]
    if missing:
        raise UserError(f"not a kohyawiz plan (no {missing[0]}); re-plan it with `kohyawiz plan`", where=str(path))
    print("\n".join(explain_lines(data)))
    return 0
