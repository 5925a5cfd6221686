"""What the plan knows of the machine besides the card: its system memory (given with --ram, or
read from /proc/meminfo), and the measured/predicted ratio of earlier runs on the same GPU model
(kept in the kohyawiz home by `kohyawiz train`)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from kohyawiz.files import kohyawiz_home
from kohyawiz.memory.estimate import Machine

MEMINFO = Path("/proc/meminfo")
CALIBRATION_FILE = "memory-calibration.json"
# A measured ratio outside this range says more about the run (an OOM, a stop during loading)
# than about the estimate: it is recorded but not applied.
RATIO_RANGE = (0.5, 2.0)


def machine_ram_gb(meminfo: Path = MEMINFO) -> float | None:
    """MemTotal of this machine in GB (GiB, as the card's memory is counted), or None."""
    try:
        text = meminfo.read_text(encoding="ascii", errors="replace")
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("MemTotal:"):
            parts = line.split()
            try:
                return round(int(parts[1]) / 1024**2, 1)
            except (IndexError, ValueError):
                return None
    return None


def calibration_path() -> Path:
    return kohyawiz_home() / CALIBRATION_FILE


def read_calibration() -> dict[str, Any]:
    path = calibration_path()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def correction_for(gpu_name: str | None) -> tuple[float | None, str]:
    """The ratio to apply for this GPU model and where it came from, or (None, "")."""
    if not gpu_name:
        return None, ""
    entry = read_calibration().get(gpu_name)
    if not isinstance(entry, dict):
        return None, ""
    ratio = entry.get("ratio")
    if not isinstance(ratio, int | float) or not RATIO_RANGE[0] <= ratio <= RATIO_RANGE[1]:
        return None, ""
    runs = entry.get("runs", 1)
    return round(float(ratio), 3), f"{runs} measured run(s) on {gpu_name}, last {entry.get('run', '?')}"


def machine_for(answers: Any, dit: bool) -> Machine:
    """The Machine for a plan's answers: --ram wins over the planning machine's memory."""
    images = sum(c.images or 0 for c in answers.concepts)
    if answers.ram_gb is not None:
        ram, source = float(answers.ram_gb), "given"
    elif os.environ.get("KOHYAWIZ_RAM_GB"):
        try:
            ram, source = float(os.environ["KOHYAWIZ_RAM_GB"]), "given"
        except ValueError:
            ram, source = None, "unknown"
    else:
        ram = machine_ram_gb()
        source = "read" if ram is not None else "unknown"
    ratio, origin = correction_for(answers.gpu_name)
    return Machine(ram, source, images, ratio, origin)
