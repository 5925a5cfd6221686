"""`kohyawiz export PLAN --skypilot`: the plan as a SkyPilot task, which reaches RunPod, Lambda,
Kubernetes, the big clouds and existing Slurm clusters from one file.

The task uploads the plan folder (its paths re-pointed at /kohyawiz/plan) and every file and
folder it names (/kohyawiz/inputs/...), installs the pinned sd-scripts the way `kohyawiz
sd-scripts install` does, and launches accelerate on every node with the rank and head address
SkyPilot gives. Secrets are named, never written: SkyPilot asks for their values at launch
(`sky launch --secret HF_TOKEN`). SkyPilot itself is never imported here.
"""

from __future__ import annotations

import json
import math
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kohyawiz import __version__
from kohyawiz.errors import UserError
from kohyawiz.memory.facts import vram_reserve_gb
from kohyawiz.run.portable import Layout, hub_models, needs, refuse_missing, remote_layout, rewritten
from kohyawiz.run.sdscripts.install import PINNED, install_script
from kohyawiz.run.train import PlanFolder

REMOTE_ROOT = "/kohyawiz"
PORT = 29500

# Accelerators as SkyPilot names them, with their memory in GB; the order breaks ties by price.
ACCELERATORS: tuple[tuple[str, float, bool], ...] = (
    # name, GB, bf16
    ("T4", 16, False), ("V100", 16, False), ("L4", 24, True), ("A10G", 24, True), ("A10", 24, True),
    ("V100-32GB", 32, False), ("RTX5090", 32, True), ("A100", 40, True), ("L40S", 48, True),
    ("A100-80GB", 80, True), ("H100", 80, True), ("RTXPRO6000", 96, True), ("H200", 141, True), ("B200", 180, True),
)  # fmt: skip
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_SECRET = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_BUCKET = re.compile(r"^(s3|gs|r2|cos|oci|https)://[^\s'\"]+$")


@dataclass
class SkyOptions:
    accelerator: str | None = None
    """NAME or NAME:COUNT; default: the smallest that fits the plan's memory estimate."""
    bucket: str | None = None
    """s3://, gs://, r2://... mounted as the output folder; default: outputs stay on the cluster."""
    secrets: list[str] = field(default_factory=list)
    torch: str | None = None
    cloud: str | None = None


def smallest_accelerator(estimate_gb: float, bf16: bool) -> str:
    """The first accelerator with room for the estimate and the reserve the plan's own verdict
    keeps free on a card (and bf16 when the plan trains in it)."""
    for name, memory, has_bf16 in ACCELERATORS:
        if estimate_gb <= memory - vram_reserve_gb(memory) and (has_bf16 or not bf16):
            return name
    raise UserError(f"the plan needs about {estimate_gb:.1f} GB per card, more than any accelerator kohyawiz "
                    "knows: lower resolution, rank or batch, or name one with --accelerator")  # fmt: skip


def _accelerator(folder: PlanFolder, options: SkyOptions) -> tuple[str, int]:
    requires = folder.plan.get("requires")
    planned = requires.get("gpus_per_machine") if isinstance(requires, dict) else None
    gpus = planned if isinstance(planned, int) and not isinstance(planned, bool) and 0 < planned <= 4096 else (
        _answer(folder, "gpus", 1)
    )
    if options.accelerator:
        name, _, count = options.accelerator.partition(":")
        if not _NAME.match(name) or (count and not count.isdigit()):
            raise UserError(f"--accelerator {options.accelerator!r}: write NAME or NAME:COUNT, e.g. A100-80GB:8")
        if count and int(count) != gpus:
            raise UserError(f"--accelerator {options.accelerator}: the plan is counted for {gpus} GPUs per machine; "
                            f"re-plan with --gpus {count}, or drop the count")  # fmt: skip
        return name, gpus
    vram = folder.plan.get("figures", {}).get("vram") or {}
    if not isinstance(vram.get("estimate_gb"), int | float):
        raise UserError("the plan has no memory estimate to choose an accelerator: pass --accelerator NAME")
    return smallest_accelerator(float(vram["estimate_gb"]), folder.arg("mixed_precision") == "bf16"), gpus


def _answer(folder: PlanFolder, key: str, default: int) -> int:
    return folder.planned_count(key, default)


def _yaml_scalar(value: Any) -> str:
    return json.dumps(value) if isinstance(value, str) else "null" if value is None else str(value)


def _yaml(data: dict[str, Any], indent: int = 0) -> list[str]:
    """A small YAML writer: strings as JSON strings (valid YAML), scripts as literal blocks."""
    pad = " " * indent
    lines: list[str] = []
    for key, value in data.items():
        name = json.dumps(key) if not re.match(r"^[A-Za-z_][A-Za-z0-9_-]*$", key) else key
        if isinstance(value, dict):
            lines += [f"{pad}{name}:", *_yaml(value, indent + 2)] if value else [f"{pad}{name}: {{}}"]
        elif isinstance(value, str) and "\n" in value:
            lines.append(f"{pad}{name}: |")
            lines += [f"{pad}  {line}" if line else "" for line in value.splitlines()]
        else:
            lines.append(f"{pad}{name}: {_yaml_scalar(value)}")
    return lines


def _launch(folder: PlanFolder, layout: Layout, nodes: int, gpus: int) -> str:
    """Every node runs accelerate with its rank; node 0 is the head. The plan's step arithmetic
    was counted for nodes x gpus, so a cluster of another shape stops before training."""
    q = shlex.quote
    sd = f"{REMOTE_ROOT}/sd-scripts"
    script = str(folder.plan["script"])
    argv = [
        f"{sd}/venv/bin/python", "-m", "accelerate.commands.launch", *folder.plan["accelerate_args"],
        "--machine_rank", "$SKYPILOT_NODE_RANK", "--main_process_ip", "$HEAD_IP", "--main_process_port", str(PORT),
        f"{sd}/{script}", "--config_file", f"{layout.plan}/config.toml", "--dataset_config", f"{layout.plan}/dataset.toml",
        "--console_log_simple",
    ]  # fmt: skip
    command = " ".join(f'"{a}"' if a.startswith("$") else q(a) for a in argv)
    return "\n".join([
        "set -euo pipefail",
        f'if [ "$SKYPILOT_NUM_NODES" != {nodes} ] || [ "$SKYPILOT_NUM_GPUS_PER_NODE" != {gpus} ]; then',
        f'  echo "kohyawiz: the plan is counted for {nodes} x {gpus} GPUs, this cluster has '
        '$SKYPILOT_NUM_NODES x $SKYPILOT_NUM_GPUS_PER_NODE: re-plan with --nodes/--gpus" >&2',
        "  exit 2",
        "fi",
        'HEAD_IP=$(echo "$SKYPILOT_NODE_IPS" | head -n 1)',
        "export PYTHONUNBUFFERED=1 COLUMNS=160",
        f"cd {q(sd)}",
        f'{command} 2>&1 | tee {q(layout.output)}/train-node"$SKYPILOT_NODE_RANK".log',
    ])  # fmt: skip


def _setup(layout: Layout, commit: str, torch: str | None) -> str:
    """Folders the run writes, then sd-scripts at the plan's commit, as `kohyawiz sd-scripts install` does."""
    q = shlex.quote
    sd, out = q(f"{REMOTE_ROOT}/sd-scripts"), q(layout.output)
    return "\n".join([
        'as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }',
        f"as_root mkdir -p {sd} {out}",
        f'as_root chown "$(id -u):$(id -g)" {sd}',
        f'[ -w {out} ] || as_root chown "$(id -u):$(id -g)" {out}  # a mounted bucket is writable already',
        install_script(f"{REMOTE_ROOT}/sd-scripts", ref=commit, torch=torch),
    ])  # fmt: skip


def task(folder: PlanFolder, options: SkyOptions, plan_copy: Path) -> tuple[dict[str, Any], dict[str, str]]:
    """The task (as data) and the re-pointed plan files, to be written in `plan_copy` and uploaded
    as /kohyawiz/plan."""
    found = needs(folder)
    refuse_missing(found, "on the machine SkyPilot starts (they are uploaded from here)")
    layout = remote_layout(folder, found, REMOTE_ROOT)
    files = rewritten(folder, layout)
    name, gpus = _accelerator(folder, options)
    nodes = int(folder.machines)
    secrets = list(options.secrets)
    if hub_models(folder) and "HF_TOKEN" not in secrets:
        secrets.insert(0, "HF_TOKEN")  # gated Hub models need it; SkyPilot asks for it at launch
    if str(folder.arg("log_with", "")) in ("wandb", "all") and "WANDB_API_KEY" not in secrets:
        secrets.append("WANDB_API_KEY")
    for secret in secrets:
        if not _SECRET.match(secret):
            raise UserError(f"--secret {secret!r}: give the name of an environment variable, never its value")
    if options.bucket and not _BUCKET.match(options.bucket):
        raise UserError(f"--bucket {options.bucket!r}: give a bucket URL such as s3://my-bucket/loras")
    commit = str((folder.plan.get("requires") or {}).get("sd_scripts", {}).get("commit") or PINNED)
    if not re.fullmatch(r"[0-9a-f]{7,40}", commit) or PINNED.startswith(commit):
        commit = PINNED  # the full hash: a short one may not resolve before the first fetch
    mounts: dict[str, Any] = {layout.plan: str(plan_copy)}
    mounts.update({remote: str(local) for local, remote in layout.inputs.items()})
    if options.bucket:
        mounts[layout.output] = {"source": options.bucket, "mode": "MOUNT"}
    resources: dict[str, Any] = {"accelerators": f"{name}:{gpus}"}
    ram = ((folder.plan.get("figures") or {}).get("vram") or {}).get("ram") or {}
    if isinstance(ram.get("estimate_gb"), int | float) and ram["estimate_gb"] > 0:
        resources["memory"] = f"{math.ceil(ram['estimate_gb'] * gpus)}+"  # each GPU's process loads the model
    if options.cloud:
        if not _NAME.match(options.cloud):
            raise UserError(f"--cloud {options.cloud!r}: give a cloud's name, e.g. aws, gcp, runpod, kubernetes")
        resources["infra"] = options.cloud
    data: dict[str, Any] = {
        "name": _task_name(folder),
        "num_nodes": nodes,
        "resources": resources,
        "file_mounts": mounts,
        "envs": {"KOHYAWIZ_PLAN": layout.plan, "KOHYAWIZ_OUTPUT": layout.output},
    }
    if secrets:
        data["secrets"] = dict.fromkeys(secrets)
    data["setup"] = _setup(layout, commit, options.torch)
    data["run"] = _launch(folder, layout, nodes, gpus)
    return data, files


def _task_name(folder: PlanFolder) -> str:
    raw = str(folder.arg("output_name", folder.folder.name)).lower()
    cleaned = re.sub(r"[^a-z0-9-]+", "-", raw).strip("-")[:40] or "run"
    return f"kohyawiz-{cleaned}"


def task_yaml(data: dict[str, Any], folder: Path) -> str:
    head = [
        f"# SkyPilot task written by kohyawiz {__version__} for the plan in {folder}.",
        "# Launch from this folder: sky launch -c kohyawiz task.yaml"
        + "".join(f" --secret {s}" for s in data.get("secrets", {})),
        "# Secrets are named here, never written: SkyPilot reads their values from your environment at launch.",
    ]
    return "\n".join([*head, *_yaml(data)]) + "\n"
