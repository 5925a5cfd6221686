"""`kohyawiz export PLAN --slurm`: an sbatch script that trains the plan on a Slurm allocation.

One task per node runs accelerate with the node's rank (SLURM_NODEID), the allocation's first
host as the head and a rendezvous port taken from the job id; the launch is the one `kohyawiz
train` runs, with the sd-scripts environment kohyawiz found. A cluster shares its file system
between nodes, so the plan's paths stay as they are and must exist. The script makes a run
record (runs/<time>-<name>-slurm-<job id>) whose train.log `kohyawiz runs watch` follows, and
writes the exit status there when the run ends.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
from dataclasses import dataclass
from pathlib import Path

from kohyawiz import __version__
from kohyawiz.errors import UserError
from kohyawiz.run.portable import needs, refuse_missing
from kohyawiz.run.process import capture
from kohyawiz.run.records.history import TENSORBOARD_DIR
from kohyawiz.run.records.record import runs_home
from kohyawiz.run.sdscripts.locate import SdScripts
from kohyawiz.run.train import PlanFolder

EXIT_STATUS = "exit_status"
"""The file the script writes in the run record when the run ends: the exit status of srun."""
NODE_LOCAL = ("/tmp/", "/var/tmp/", "/dev/shm/", "/scratch/local/")
_PARTITION = re.compile(r"^[A-Za-z0-9_.,-]+$")
_TIME = re.compile(r"^(\d+-)?\d+(:\d{1,2}){0,2}$|^\d+-\d+$")


@dataclass
class SlurmOptions:
    partition: str | None = None
    gpus_per_node: int | None = None
    """GPUs to ask for on each node (default: the plan's --gpus; 0 asks for none, e.g. a CPU test)."""
    nodes: int | None = None
    time: str | None = None
    max_cpus: int | None = None
    """The most CPUs a node of the cluster has (sinfo), when known."""
    runs: Path | None = None
    """Where the script makes its run record (default: this machine's kohyawiz home)."""


def _check(folder: PlanFolder, options: SlurmOptions) -> tuple[int, int]:
    machines = folder.machines
    gpus = folder.planned_count("gpus", 1)
    if options.nodes is not None and options.nodes != machines:
        raise UserError(f"--nodes {options.nodes}: the plan is counted for {machines} machine(s); "
                        f"re-plan with --nodes {options.nodes} so the steps are right")  # fmt: skip
    asked = gpus if options.gpus_per_node is None else options.gpus_per_node
    if asked not in (0, gpus):
        raise UserError(f"--gpus-per-node {asked}: the plan is counted for {gpus} GPU(s) per machine; "
                        f"re-plan with --gpus {asked}")  # fmt: skip
    if options.partition is not None and not _PARTITION.match(options.partition):
        raise UserError(f"--partition {options.partition!r}: give a Slurm partition name")
    if options.time is not None and not _TIME.match(options.time):
        raise UserError(f"--time {options.time!r}: write Slurm's form, e.g. 12:00:00 or 1-00:00:00")
    return machines, asked


def _cpus(folder: PlanFolder) -> int:
    """CPUs for the one task of a node: accelerate's threads for each of its processes (Slurm gives
    one CPU per task otherwise, and the node's GPUs would wait on one core's data loading)."""
    args = [str(a) for a in folder.plan.get("accelerate_args") or []]
    threads = args[args.index("--num_cpu_threads_per_process") + 1] if "--num_cpu_threads_per_process" in args[:-1] else "1"
    gpus = folder.planned_count("gpus", 1)
    return max(1, gpus * (int(threads) if threads.isdigit() else 1))


@dataclass(frozen=True)
class Cluster:
    """What the Slurm this machine reaches says about its nodes (`sinfo`)."""

    gpus: bool
    """GPUs are a generic resource there: without them `--gpus-per-node` makes sbatch refuse the job."""
    cpus: int
    """The most CPUs a node has: a larger --cpus-per-task could never be scheduled."""


def cluster() -> Cluster | None:
    """None when no Slurm answers here (the script is then written for the plan's own numbers)."""
    if shutil.which("sinfo") is None:
        return None
    code, out = capture(["sinfo", "--noheader", "--format=%G|%c"], timeout_s=20)
    rows = [line.split("|") for line in out.splitlines() if "|" in line]
    if code != 0 or not rows:
        return None
    cpus = [int(c.strip().rstrip("+")) for _, c in rows if c.strip().rstrip("+").isdigit()]
    return Cluster(any("gpu" in g for g, _ in rows), max(cpus, default=1))


def node_local_paths(folder: PlanFolder, runs: Path | None = None) -> list[str]:
    """Paths other nodes of a cluster do not see (each node has its own /tmp): the inputs, the plan
    folder and the run records' folder, where every node writes its log."""
    paths = [str(n.path) for n in needs(folder)] + [str(folder.folder)] + ([str(runs)] if runs else [])
    return [p for p in paths if p.startswith(NODE_LOCAL)]


def sbatch_script(folder: PlanFolder, sd: SdScripts, options: SlurmOptions) -> str:
    machines, gpus_per_node = _check(folder, options)
    refuse_missing(needs(folder), "on the cluster's nodes (they share this file system)")
    q = shlex.quote
    name = re.sub(r"[^A-Za-z0-9_.-]+", "-", str(folder.arg("output_name", folder.folder.name)))[:60] or "run"
    runs = (options.runs or runs_home()).expanduser().resolve()
    if any(c.isspace() or c in "'\"\\%" for c in str(runs)):
        raise UserError(f"the run records' folder {runs} has a space, quote or % that an #SBATCH line cannot "
                        "hold: set KOHYAWIZ_HOME to a folder without them")  # fmt: skip
    accelerate = [str(a) for a in folder.plan["accelerate_args"]]
    script_args = ["--config_file", str(folder.folder / "config.toml"),
                   "--dataset_config", str(folder.folder / "dataset.toml"), "--console_log_simple"]  # fmt: skip
    launch = [str(sd.python), "-m", "accelerate.commands.launch", *accelerate]
    argv_json = json.dumps([*launch, "--machine_rank", "$SLURM_NODEID", "--main_process_ip", "$HEAD_NODE",
                            "--main_process_port", "$MAIN_PORT", str(sd.root / str(folder.plan["script"])),
                            *script_args], indent=2)  # fmt: skip
    per_node = "; ".join([
        'if [ "$SLURM_NODEID" = 0 ]; then log="$RUN_DIR/train.log"; else log="$RUN_DIR/train-node$SLURM_NODEID.log"; fi',
        f"cd {q(str(sd.root))}",
        " ".join([
            "exec", *map(q, launch), '--machine_rank "$SLURM_NODEID"', '--main_process_ip "$HEAD_NODE"',
            '--main_process_port "$MAIN_PORT"', q(str(sd.root / str(folder.plan["script"]))), *map(q, script_args),
            f'--logging_dir "$RUN_DIR/{TENSORBOARD_DIR}" --log_prefix "$(basename "$RUN_DIR")-"', '>"$log" 2>&1',
        ]),
    ])  # fmt: skip
    sbatch = [
        f"#SBATCH --job-name=kohyawiz-{name}",
        f"#SBATCH --nodes={machines}",
        "#SBATCH --ntasks-per-node=1",
        f"#SBATCH --cpus-per-task={min(_cpus(folder), options.max_cpus or _cpus(folder))}",
        f"#SBATCH --output={runs}/slurm-%j.out",
    ]
    if gpus_per_node:
        sbatch.append(f"#SBATCH --gpus-per-node={gpus_per_node}")
    if options.partition:
        sbatch.append(f"#SBATCH --partition={options.partition}")
    if options.time:
        sbatch.append(f"#SBATCH --time={options.time}")
    return "\n".join([
        "#!/bin/bash",
        *sbatch,
        f"# Written by kohyawiz {__version__} for the plan in {folder.folder}.",
        "# Submit: sbatch THIS_FILE; follow: kohyawiz runs watch slurm-JOBID",
        "set -euo pipefail",
        ': "${SLURM_JOB_ID:?submit this script with sbatch}"',
        f"RUNS=${{KOHYAWIZ_RUNS:-{q(str(runs))}}}",
        f'RUN_DIR="$RUNS/$(date +%Y%m%d-%H%M%S)-{name}-slurm-$SLURM_JOB_ID"',
        f'mkdir -p "$RUN_DIR/{TENSORBOARD_DIR}"',
        f'cp {q(str(folder.folder / "plan.json"))} "$RUN_DIR/plan.json"',
        "cat > \"$RUN_DIR/argv.json\" <<'KOHYAWIZ_ARGV'",
        argv_json,
        "KOHYAWIZ_ARGV",
        'HEAD_NODE=$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)',
        "MAIN_PORT=$((20000 + SLURM_JOB_ID % 20000))",
        "export RUN_DIR HEAD_NODE MAIN_PORT PYTHONUNBUFFERED=1 COLUMNS=160",
        "status=0",
        "trap 'echo \"kohyawiz: the job was cancelled\" >&2' TERM  # scancel: let srun end, then say so below",
        # srun does not take --cpus-per-task from the allocation since Slurm 22.05: say it again
        f'srun --kill-on-bad-exit=1 --ntasks-per-node=1 --cpus-per-task="$SLURM_CPUS_PER_TASK" bash -c {q(per_node)}'
        " || status=$?",
        f'printf "%s\\n" "$status" > "$RUN_DIR/{EXIT_STATUS}.tmp" && mv "$RUN_DIR/{EXIT_STATUS}.tmp" "$RUN_DIR/{EXIT_STATUS}"',
        'exit "$status"',
    ]) + "\n"  # fmt: skip
