"""A file-backed queue of plan folders, run one after another. It survives a restart of kohyawiz:
a run that was in progress when kohyawiz stopped, or was interrupted, resumes from its newest
saved state (or starts again when it saved none)."""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

from kohyawiz.errors import UserError
from kohyawiz.files import kohyawiz_home, write_atomic


@dataclass
class QueueEntry:
    id: str
    plan_dir: str
    status: str = "pending"
    """pending, running, completed, failed or interrupted."""
    added: str = ""
    run: str | None = None


def queue_path() -> Path:
    return kohyawiz_home() / "queue.json"


def load_queue() -> list[QueueEntry]:
    path = queue_path()
    if not path.is_file():
        return []
    from kohyawiz.door import read_json

    data = read_json(path, "queue file")
    try:
        entries = [QueueEntry(**item) for item in data]
    except (ValueError, TypeError) as exc:
        raise UserError(f"the queue file is damaged ({exc}); remove it to start afresh", where=str(path)) from exc
    for entry in entries:
        texts = (entry.id, entry.plan_dir, entry.status, entry.added)
        if not all(isinstance(t, str) for t in texts) or not isinstance(entry.run, str | None):
            raise UserError("the queue file is damaged (an entry's fields are not text); remove it to start afresh",
                            where=str(path))  # fmt: skip
    return entries


@contextmanager
def _locked(name: str, *, wait: bool) -> Iterator[bool]:
    """An exclusive lock on a file in the kohyawiz home, released when the block ends (or when the
    process dies). Yields False when `wait` is off and another process holds it."""
    import fcntl

    path = kohyawiz_home() / name
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(handle)


@contextmanager
def _editing() -> Iterator[None]:
    """Every read-modify-write of the queue file under one lock, so no change is lost."""
    with _locked("queue.json.lock", wait=True):
        yield


@contextmanager
def runner() -> Iterator[None]:
    """The one `queue run` at a time: a second one is refused at once, so no entry starts twice."""
    with _locked("queue.run.lock", wait=False) as held:
        if not held:
            raise UserError("another `kohyawiz queue run` is running: it runs every entry; wait for it to finish")
        yield


def claim_next() -> QueueEntry | None:
    """The next entry to run, marked running in the same locked step; None when none is left."""
    with _editing():
        entries = load_queue()
        for entry in entries:
            if entry.status in ("pending", "interrupted"):
                claimed = QueueEntry(**asdict(entry))
                entry.status = "running"
                save_queue(entries)
                return claimed
    return None


def save_queue(entries: list[QueueEntry]) -> None:
    path = queue_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, json.dumps([asdict(e) for e in entries], indent=2) + "\n")


def add(plan_dir: Path) -> QueueEntry:
    """Queue a plan folder that `queue run` would load: a damaged plan, or one naming a trainer
    kohyawiz does not launch, is refused now with the same line, not later when its turn comes."""
    from kohyawiz.run.train import PlanFolder

    folder = plan_dir.expanduser().resolve()
    if not (folder / "plan.json").is_file():
        raise UserError("no plan.json here: only plan folders can be queued", where=str(folder))
    PlanFolder.load(folder).check_trust()
    entry = QueueEntry(uuid.uuid4().hex[:8], str(folder), added=time.strftime("%Y-%m-%d %H:%M:%S"))
    with _editing():
        save_queue([*load_queue(), entry])
    return entry


def next_entry() -> QueueEntry | None:
    """The first entry still to run: pending, or interrupted (it resumes from its newest state)."""
    for entry in load_queue():
        if entry.status in ("pending", "interrupted"):
            return entry
    return None


def mark_stale_running() -> list[str]:
    """Entries left 'running' by a queue that was killed: they are interrupted, not blocking (only
    called while holding the runner lock, so no live queue run owns them)."""
    with _editing():
        entries = load_queue()
        stale = [e.id for e in entries if e.status == "running"]
        if stale:
            for entry in entries:
                if entry.id in stale:
                    entry.status = "interrupted"
            save_queue(entries)
    return stale


def update(entry_id: str, **changes: str | None) -> None:
    with _editing():
        entries = load_queue()
        for entry in entries:
            if entry.id == entry_id:
                for key, value in changes.items():
                    setattr(entry, key, value)
        save_queue(entries)
