"""`kohyawiz runs watch`: follow a run that something else launched (an sbatch script, a SkyPilot
task) through the same parser and record as `kohyawiz train`.

A Slurm run's record is made by its script when the job starts; its train.log grows while the
job runs and `exit_status` appears when it ends. Text piped in (`sky logs CLUSTER | kohyawiz runs
watch -`) gets a record of its own and ends with its input.
"""

from __future__ import annotations

import codecs
import json
import os
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO

from kohyawiz.errors import UserError
from kohyawiz.run import logparse
from kohyawiz.run.records.record import RunRecord, list_runs, planned_args, read_json
from kohyawiz.run.slurm import EXIT_STATUS
from kohyawiz.run.train import Outcome, Watcher, conclude

CHUNK = 64 * 1024
STOPPED = (130, 137, 143)
# `sky logs` puts `(head, rank=0, pid=123) ` (or `(task, pid=123) `, maybe coloured) before each
# line of each node; every node's local main process draws its own progress bar.
_SKY_PREFIX = re.compile(r"^(?:\x1b\[[0-9;]*m)*\([\w.-]+, (?:rank=(\d+), )?pid=\d+(?:, ip=[^)]*)?\)(?:\x1b\[[0-9;]*m)* ?")


class NodePrefixes:
    """Keeps the head node's lines of a multi-node log, without the prefix SkyPilot adds."""

    def __init__(self) -> None:
        self.partial = ""

    def feed(self, text: str) -> str:
        pieces = re.split(r"(\r|\n)", self.partial + text)
        self.partial = pieces.pop()  # a line is judged once it is whole
        kept = [(self._line(pieces[i]), pieces[i + 1]) for i in range(0, len(pieces), 2)]
        return "".join(line + end for line, end in kept if line is not None)  # a dropped line takes its end along

    def close(self) -> str:
        rest, self.partial = self.partial, ""
        return self._line(rest) or ""

    @staticmethod
    def _line(piece: str) -> str | None:
        match = _SKY_PREFIX.match(piece)
        if match is None:
            return piece
        return None if match.group(1) not in (None, "0") else piece[match.end() :]


def find_record(run: str, wait_s: float, poll_s: float = 1.0, on_wait: Callable[[], None] | None = None) -> Path:
    """A record folder by path, or by id (a part of its name, e.g. `slurm-1234`); a queued Slurm
    job's record appears when the job starts, so `slurm-JOBID` is waited for up to `wait_s`
    (`on_wait` is told once); any other id that matches nothing is refused at once."""
    given = Path(run).expanduser()
    if given.is_dir():
        return given.resolve()
    deadline = time.monotonic() + (wait_s if re.fullmatch(r"slurm-\d+", run) else 0)
    waited = False
    while True:
        runs = list_runs()
        names = ([p for p in runs if p.name == run] or [p for p in runs if p.name.endswith(f"-{run}")]
                 or [p for p in runs if run in p.name])  # fmt: skip
        if len(names) == 1:
            return names[0]
        if len(names) > 1:
            raise UserError(f"{len(names)} runs match {run!r}; give more of the id (`kohyawiz runs` lists them)")
        if time.monotonic() >= deadline:
            if not run.startswith("slurm-"):
                raise UserError(f"no run matches {run!r}: `kohyawiz runs` lists them")
            raise UserError(f"no run matches {run!r} yet: a queued job's record appears when it starts "
                            "(`squeue` shows it); wait longer with --wait SECONDS")  # fmt: skip
        if not waited and on_wait is not None:
            on_wait()
        waited = True
        time.sleep(poll_s)


def _exit_status(folder: Path) -> int | None:
    try:
        return int((folder / EXIT_STATUS).read_text(encoding="utf-8").strip())
    except (OSError, ValueError):
        return None


def follow(
    folder: Path,
    on_event: Callable[[logparse.Event], None] | None = None,
    *,
    poll_s: float = 1.0,
    timeout_s: float | None = None,
) -> Outcome:
    """Read the record's train.log as it grows until the run's exit status is written and the log
    is read to its end; then the outcome is kept in the record. Watching again starts over."""
    plan = read_json(folder / "plan.json", {})
    if not isinstance(plan, dict):
        plan = {}
    (folder / "events.jsonl").unlink(missing_ok=True)
    watcher = Watcher(RunRecord(folder), on_event)
    started = time.monotonic()
    log = folder / "train.log"
    offset = 0
    while True:
        status = _exit_status(folder)  # read before the log, so no text written before it is missed
        if log.is_file():
            with log.open("rb") as handle:
                handle.seek(offset)
                while data := handle.read(CHUNK):
                    offset += len(data)
                    watcher.text(data.decode("utf-8", "replace"))
        if status is not None:  # 130/137/143: stopped by a signal (scancel, a time limit, Ctrl+C)
            return conclude(watcher, status, time.monotonic() - started, status in STOPPED, planned_args(plan))
        if timeout_s is not None and time.monotonic() - started > timeout_s:
            return conclude(watcher, -1, time.monotonic() - started, True, planned_args(plan))
        time.sleep(poll_s)


def _read_some(stream: IO[bytes]) -> bytes:
    """What has arrived (a pipe's tqdm redraws come without newlines, so lines are not waited for)."""
    try:
        return os.read(stream.fileno(), CHUNK)
    except (AttributeError, OSError, ValueError):
        return stream.read(CHUNK)


def follow_stream(
    stream: IO[bytes], name: str, on_event: Callable[[logparse.Event], None] | None = None
) -> tuple[Outcome, RunRecord]:
    """A log piped in (`sky logs CLUSTER`): a new record with its text (the head node's, when
    SkyPilot prefixes each node's lines), events and outcome; the end of input ends it."""
    record = RunRecord.create(name, {}, [])
    watcher = Watcher(record, on_event)
    started = time.monotonic()
    decoder = codecs.getincrementaldecoder("utf-8")("replace")
    nodes = NodePrefixes()
    with record.log_path.open("w", encoding="utf-8") as log:
        while data := _read_some(stream):
            text = nodes.feed(decoder.decode(data))
            log.write(text)
            log.flush()
            watcher.text(text)
        log.write(rest := nodes.close())
        watcher.text(rest)
    outcome = conclude(watcher, 0, time.monotonic() - started, False, {})
    (record.folder / EXIT_STATUS).write_text(json.dumps(outcome.returncode) + "\n", encoding="utf-8")
    return outcome, record
