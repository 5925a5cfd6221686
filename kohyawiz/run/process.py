"""The one place kohyawiz starts processes. Always an argv list, never a shell string.

The child gets its own process group (accelerate spawns workers), so a stop reaches all of it:
SIGINT first, then SIGTERM, then SIGKILL, each after a grace period. No orphans are left.
"""

from __future__ import annotations

import codecs
import contextlib
import os
import selectors
import signal
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

GRACE_S = 10.0


@dataclass
class Finished:
    returncode: int
    interrupted: bool
    seconds: float


class StopRequest:
    """Set from a signal handler or a UI key; the running child is stopped gently, then firmly."""

    def __init__(self) -> None:
        self.requested_at: float | None = None

    def request(self) -> None:
        if self.requested_at is None:
            self.requested_at = time.monotonic()

    @property
    def requested(self) -> bool:
        return self.requested_at is not None


def _signal_group(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


def run_streaming(
    argv: Sequence[str],
    on_text: Callable[[str], None],
    *,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    log: IO[str] | None = None,
    stop: StopRequest | None = None,
    grace_s: float = GRACE_S,
    on_start: Callable[[int], None] | None = None,
) -> Finished:
    """Run argv, passing its merged stdout/stderr text to `on_text` as it arrives; `on_start`
    gets the child's pid (the leader of its process group) once it runs."""
    start = time.monotonic()
    stop = stop or StopRequest()
    child = subprocess.Popen(
        list(argv),
        cwd=cwd,
        env=dict(env) if env is not None else None,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    assert child.stdout is not None
    if on_start is not None:
        on_start(child.pid)
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    selector = selectors.DefaultSelector()
    selector.register(child.stdout, selectors.EVENT_READ)
    sent: list[signal.Signals] = []
    open_stream = True
    try:
        while open_stream or child.poll() is None:
            try:
                if stop.requested:
                    _escalate(child, stop, sent, grace_s)
                if not open_stream:
                    time.sleep(0.05)
                    continue
                for _key, _ in selector.select(timeout=0.2):
                    chunk = os.read(child.stdout.fileno(), 65536)
                    if not chunk:
                        open_stream = False
                        break
                    text = decoder.decode(chunk)
                    if log is not None:
                        log.write(text)
                        log.flush()
                    on_text(text)
            except KeyboardInterrupt:
                stop.request()  # keep reading: the child's last words matter
        tail = decoder.decode(b"", final=True)
        if tail:
            on_text(tail)
    finally:
        selector.close()
        child.stdout.close()
        if child.poll() is None:  # never leave the group behind
            _signal_group(child.pid, signal.SIGKILL)
            child.wait()
        _signal_group(child.pid, signal.SIGKILL)  # workers that outlived the leader
    return Finished(child.returncode, stop.requested, time.monotonic() - start)


def _escalate(child: subprocess.Popen[bytes], stop: StopRequest, sent: list[signal.Signals], grace_s: float) -> None:
    waited = time.monotonic() - (stop.requested_at or time.monotonic())
    plan = [(signal.SIGINT, 0.0), (signal.SIGTERM, grace_s), (signal.SIGKILL, 2 * grace_s)]
    for sig, after in plan:
        if sig not in sent and waited >= after and child.poll() is None:
            _signal_group(child.pid, sig)
            sent.append(sig)


def capture(
    argv: Sequence[str], *, timeout_s: float = 30.0, env: Mapping[str, str] | None = None, cwd: Path | None = None
) -> tuple[int, str]:
    """Run a short command (a version probe) and return its exit code and output."""
    try:
        done = subprocess.run(
            list(argv),
            capture_output=True,
            text=True,
            timeout=timeout_s,
            env=dict(env) if env else None,
            cwd=cwd,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return 127, str(exc)
    return done.returncode, done.stdout + done.stderr
