"""The GPUs on this machine, from nvidia-smi when it is there."""

from __future__ import annotations

import shutil
from dataclasses import dataclass

from kohyawiz.run.process import capture


@dataclass(frozen=True)
class Gpu:
    name: str
    memory_gb: float


def detect_gpus() -> list[Gpu]:
    if shutil.which("nvidia-smi") is None:
        return []
    code, out = capture(["nvidia-smi", "--query-gpu=name,memory.total", "--format=csv,noheader,nounits"], timeout_s=10)
    if code != 0:
        return []
    gpus = []
    for line in out.splitlines():
        name, _, memory = line.rpartition(",")
        try:
            gpus.append(Gpu(name.strip(), round(float(memory) / 1024, 1)))
        except ValueError:
            continue
    return gpus
