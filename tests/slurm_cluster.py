"""A single-node Slurm on this machine, from the distribution's packages (slurmctld, slurmd,
munge), for opt-in tests: its own config, state, munge socket and ports in a temporary folder;
the daemons it starts are stopped by their process ids when it closes."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

DAEMONS = ("munged", "slurmctld", "slurmd", "sbatch", "scontrol")
MUNGE_KEY = Path("/etc/munge/munge.key")


def available() -> str | None:
    """Why a Slurm cannot be started here, or None when it can."""
    missing = [name for name in DAEMONS if shutil.which(name) is None and not Path(f"/usr/sbin/{name}").exists()]
    if missing:
        return f"{', '.join(missing)} not installed (apt-get install slurmctld slurmd slurm-client munge)"
    if os.geteuid() != 0:
        return "slurmd needs root"
    if not MUNGE_KEY.is_file():
        return f"no munge key at {MUNGE_KEY}"
    return None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _binary(name: str) -> str:
    return shutil.which(name) or f"/usr/sbin/{name}"


def _config(root: Path, host: str, socket_path: Path) -> str:
    cpus = os.cpu_count() or 1
    return "\n".join([
        "ClusterName=kohyawiz-test",
        f"SlurmctldHost={host}(127.0.0.1)",
        f"SlurmctldPort={_free_port()}",
        f"SlurmdPort={_free_port()}",
        "AuthType=auth/munge",
        "CredType=cred/munge",
        f"AuthInfo=socket={socket_path}",
        "SlurmUser=root",
        "SlurmdUser=root",
        f"StateSaveLocation={root / 'state'}",
        f"SlurmdSpoolDir={root / 'spool'}",
        f"SlurmctldPidFile={root / 'slurmctld.pid'}",
        f"SlurmdPidFile={root / 'slurmd.pid'}",
        f"SlurmctldLogFile={root / 'slurmctld.log'}",
        f"SlurmdLogFile={root / 'slurmd.log'}",
        "ProctrackType=proctrack/linuxproc",
        "TaskPlugin=task/none",
        "JobAcctGatherType=jobacct_gather/none",
        "AccountingStorageType=accounting_storage/none",
        "SchedulerType=sched/builtin",
        "SelectType=select/cons_tres",
        "SelectTypeParameters=CR_CPU",
        "MpiDefault=none",
        "ReturnToService=2",
        "SlurmdTimeout=30",
        f"NodeName={host} NodeAddr=127.0.0.1 CPUs={cpus} RealMemory=1000 State=UNKNOWN",
        "PartitionName=test Nodes=ALL Default=YES MaxTime=INFINITE State=UP",
    ]) + "\n"  # fmt: skip


@contextlib.contextmanager
def single_node_slurm(root: Path, ready_s: float = 60) -> Iterator[dict[str, str]]:
    """Start munged, slurmctld and slurmd; yield the environment the Slurm commands need."""
    for sub in ("state", "spool", "munge"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    host = socket.gethostname().split(".")[0]
    munge_socket = root / "munge" / "munge.socket"
    (root / "slurm.conf").write_text(_config(root, host, munge_socket))
    env = {**os.environ, "SLURM_CONF": str(root / "slurm.conf")}
    started: list[subprocess.Popen[bytes]] = []
    try:
        started.append(subprocess.Popen(
            [_binary("munged"), "--foreground", "--force", f"--socket={munge_socket}", f"--key-file={MUNGE_KEY}",
             f"--pid-file={root / 'munge' / 'munged.pid'}", f"--log-file={root / 'munge' / 'munged.log'}",
             f"--seed-file={root / 'munge' / 'munged.seed'}"],
            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
        ))  # fmt: skip
        _wait(lambda: munge_socket.exists(), 15, "munged did not start", root)
        started.append(subprocess.Popen([_binary("slurmctld"), "-D", "-i", "-f", env["SLURM_CONF"]], env=env,
                                        stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT))  # fmt: skip
        started.append(subprocess.Popen([_binary("slurmd"), "-D", "-f", env["SLURM_CONF"]], env=env,
                                        stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT))  # fmt: skip

        def idle() -> bool:
            out = subprocess.run([_binary("sinfo"), "-h", "-o", "%T"], env=env, capture_output=True, text=True)
            return out.returncode == 0 and out.stdout.strip().startswith("idle")

        _wait(idle, ready_s, "the Slurm node did not become idle", root)
        yield env
    finally:
        for process in reversed(started):
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()


def _wait(ready: object, seconds: float, problem: str, root: Path) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if callable(ready) and ready():
            return
        time.sleep(0.5)
    logs = "; ".join(f"{p.name}: {p.read_text(errors='replace')[-400:]}" for p in root.glob("*.log") if p.is_file())
    raise RuntimeError(f"{problem} ({logs})")


def job_state(env: dict[str, str], job: str) -> str:
    out = subprocess.run([_binary("scontrol"), "show", "job", job], env=env, capture_output=True, text=True)
    for word in out.stdout.split():
        if word.startswith("JobState="):
            return word.split("=", 1)[1]
    return "UNKNOWN"
