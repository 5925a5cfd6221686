"""Run records: runs/<timestamp>-<name>/ with the plan, the argv, the log, events and the outcome."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kohyawiz.errors import UserError
from kohyawiz.files import kohyawiz_home as kohyawiz_home  # re-export for branches importing it from here
from kohyawiz.files import write_atomic

RECORD_LIMIT = 64 * 1024 * 1024


def runs_home() -> Path:
    return kohyawiz_home() / "runs"


def safetensors_metadata(path: Path) -> dict[str, str]:
    """The `__metadata__` of a .safetensors file, from its header alone."""
    from kohyawiz.safetensors_header import read_safetensors_header

    metadata = read_safetensors_header(path).get("__metadata__") or {}
    return {str(k): str(v) for k, v in metadata.items()} if isinstance(metadata, dict) else {}


def planned_args(plan: dict[str, Any]) -> dict[str, Any]:
    """The sd-scripts arguments plan.json decided: what a run launched elsewhere (a Slurm job, a
    piped log) is checked against, since its record holds no config.toml of its own."""
    decisions = plan.get("decisions", [])
    return {
        d["key"]: d["value"]
        for d in decisions if isinstance(d, dict) and "key" in d and d.get("scope", "arg") == "arg"
    } if isinstance(decisions, list) else {}  # fmt: skip


def metadata_mismatches(metadata: dict[str, str], launched: dict[str, Any]) -> list[str]:
    """ss_network_* in a saved LoRA against the --config_file values the run was launched with
    (the config.toml as it was at launch, edits included; not plan.json, which an edit leaves behind)."""
    checks = {
        "ss_network_dim": "network_dim",
        "ss_network_alpha": "network_alpha",
        "ss_network_module": "network_module",
    }
    problems = []
    for meta_key, plan_key in checks.items():
        if meta_key not in metadata or launched.get(plan_key) is None:
            continue
        want, got = launched[plan_key], metadata[meta_key]
        same = str(want) == got
        if not same:
            try:
                same = float(want) == float(got)
            except (TypeError, ValueError):
                same = False
        if not same:
            problems.append(f"{meta_key} is {got}, the launched config.toml asked for {want}")
    return problems


@dataclass
class RunRecord:
    folder: Path
    events: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def create(cls, name: str, plan: dict[str, Any], argv: list[str]) -> RunRecord:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        # The name comes from a plan's output_name: it stays one folder name inside runs/.
        name = "".join(c if c.isalnum() or c in "-_." else "_" for c in name).strip(".")[:80] or "run"
        folder = runs_home() / f"{stamp}-{name}"
        suffix = 1
        while folder.exists():
            suffix += 1
            folder = runs_home() / f"{stamp}-{name}-{suffix}"
        folder.mkdir(parents=True)
        write_atomic(folder / "plan.json", json.dumps(plan, indent=2) + "\n")
        write_atomic(folder / "argv.json", json.dumps(argv, indent=2) + "\n")
        return cls(folder)

    def write_argv(self, argv: list[str]) -> None:
        write_atomic(self.folder / "argv.json", json.dumps(argv, indent=2) + "\n")

    @property
    def log_path(self) -> Path:
        return self.folder / "train.log"

    def add_event(self, record: dict[str, Any]) -> None:
        self.events.append(record)
        with (self.folder / "events.jsonl").open("a", encoding="utf-8") as out:
            out.write(json.dumps(record) + "\n")

    def finish(self, outcome: dict[str, Any]) -> None:
        write_atomic(self.folder / "outcome.json", json.dumps(outcome, indent=2) + "\n")


def list_runs() -> list[Path]:
    home = runs_home()
    return sorted((p for p in home.iterdir() if p.is_dir()), key=lambda p: p.name) if home.is_dir() else []


def find_run(run_id: str) -> Path:
    runs = list_runs()
    exact = [p for p in runs if p.name == run_id]
    matches = exact or [p for p in runs if run_id in p.name]
    if len(matches) != 1:
        what = "no run" if not matches else f"{len(matches)} runs"
        raise UserError(f"{what} match {run_id!r}; `kohyawiz runs` lists them")
    return matches[0]


def read_json(path: Path, default: Any = None) -> Any:
    """A record's JSON file, or `default` when it is missing or damaged (a record is never fatal)."""
    from kohyawiz.door import read_json as read_guarded

    try:
        return read_guarded(path, "run record", RECORD_LIMIT)
    except UserError:
        return default


def read_events(folder: Path) -> list[dict[str, Any]]:
    """The record's events; damaged lines are skipped."""
    from kohyawiz.door import parse_json, read_text

    try:
        lines = read_text(folder / "events.jsonl", "run record", RECORD_LIMIT).splitlines()
    except UserError:
        return []
    events = []
    for line in lines:
        try:
            event = parse_json(line, "event", "events.jsonl")
        except UserError:
            continue
        if isinstance(event, dict):
            events.append(event)
    return events
