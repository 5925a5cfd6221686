"""Every run measures itself: while sd-scripts trains, the GPU memory of the run's process tree
(nvidia-smi's per-process query) and its RAM (/proc) are sampled, and the peaks are kept in the
run record beside the plan's prediction. Runs on the same GPU model teach later plans the
measured/predicted ratio (kohyawiz/memory/machine.py reads it back)."""

from __future__ import annotations

import json
import os
import shutil
import threading
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from kohyawiz.emit import write_atomic
from kohyawiz.run.process import capture

SAMPLE_EVERY_S = 1.0
MIB = 1024**2
GIB = 1024**3


@dataclass
class Peaks:
    vram_gb: float | None = None
    """Largest sum of the tree's GPU memory over one sample (nvidia-smi, MiB -> GiB)."""
    ram_gb: float | None = None
    """Largest sum of the tree's resident memory (VmRSS) over one sample."""
    gpu_name: str | None = None
    source: str = "none"
    """"nvidia-smi" (per process), "nvidia-smi card" (the card's use above what it was before the
    run: a container hides the run's pids), or "none" (no nvidia-smi)."""
    samples: int = 0


def process_tree(root: int, proc: Path = Path("/proc")) -> set[int]:
    """The root and every process below it (by parent), plus its process group."""
    parents: dict[int, int] = {}
    groups: dict[int, int] = {}
    for entry in proc.iterdir() if proc.is_dir() else []:
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2 :].split()
        if len(fields) > 3:
            parents[int(entry.name)] = int(fields[1])
            groups[int(entry.name)] = int(fields[2])
    tree = {root} | {pid for pid, group in groups.items() if group == root}
    grew = True
    while grew:
        more = {pid for pid, parent in parents.items() if parent in tree and pid not in tree}
        tree |= more
        grew = bool(more)
    return tree


def tree_rss_bytes(pids: set[int], proc: Path = Path("/proc")) -> int:
    total = 0
    for pid in pids:
        try:
            for line in (proc / str(pid) / "status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
                    break
        except (OSError, ValueError, IndexError):
            continue
    return total


def gpu_rows(nvidia_smi: str) -> list[tuple[int, float, str]]:
    """(pid, used MiB, GPU name) per compute process nvidia-smi sees."""
    code, out = capture([nvidia_smi, "--query-compute-apps=pid,used_memory,gpu_name", "--format=csv,noheader,nounits"],
                        timeout_s=10)  # fmt: skip
    if code != 0:
        return []
    rows = []
    for line in out.splitlines():
        parts = [p.strip() for p in line.split(",", 2)]
        try:
            rows.append((int(parts[0]), float(parts[1]), parts[2] if len(parts) > 2 else ""))
        except (ValueError, IndexError):
            continue
    return rows


def card_used(nvidia_smi: str) -> tuple[float, str] | None:
    """(MiB in use, name) of the first card."""
    code, out = capture([nvidia_smi, "--query-gpu=memory.used,name", "--format=csv,noheader,nounits"], timeout_s=10)
    if code != 0 or not out.strip():
        return None
    used, _, name = out.splitlines()[0].partition(",")
    try:
        return float(used), name.strip()
    except ValueError:
        return None


class PeakSampler:
    """Samples the run's tree on a thread until stopped."""

    def __init__(self, every_s: float | None = None, nvidia_smi: str | None = None) -> None:
        self.every_s = SAMPLE_EVERY_S if every_s is None else every_s
        self.nvidia_smi = nvidia_smi or shutil.which("nvidia-smi")
        self.peaks = Peaks()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._root = 0
        self._card_before: float | None = None

    def start(self, pid: int) -> None:
        self._root = pid
        if self.nvidia_smi:
            before = card_used(self.nvidia_smi)
            self._card_before = before[0] if before else None
        self._thread = threading.Thread(target=self._loop, name="kohyawiz-peaks", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while True:
            self.sample()
            if self._stop.wait(self.every_s):
                return

    def sample(self) -> None:
        tree = process_tree(self._root)
        peaks = self.peaks
        peaks.samples += 1
        rss = tree_rss_bytes(tree) / GIB
        if rss:
            peaks.ram_gb = round(max(peaks.ram_gb or 0.0, rss), 3)
        if not self.nvidia_smi:
            return
        rows = [r for r in gpu_rows(self.nvidia_smi) if r[0] in tree]
        if rows:
            used = sum(r[1] for r in rows) / 1024
            peaks.source, peaks.gpu_name = "nvidia-smi", rows[0][2] or peaks.gpu_name
            peaks.vram_gb = round(max(peaks.vram_gb or 0.0, used), 3)
            return
        card = card_used(self.nvidia_smi)
        if card is not None and self._card_before is not None and peaks.source != "nvidia-smi":
            used = max(0.0, card[0] - self._card_before) / 1024
            if used > 0:
                peaks.source, peaks.gpu_name = "nvidia-smi card", card[1]
                peaks.vram_gb = round(max(peaks.vram_gb or 0.0, used), 3)

    def stop(self) -> Peaks:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=15)
        return self.peaks


def memory_record(plan: dict[str, Any], peaks: Peaks) -> dict[str, Any]:
    """Predicted beside measured, for the run record's memory.json."""
    vram = (plan.get("figures") or {}).get("vram") or {}
    predicted = {
        "vram_gb": vram.get("estimate_gb"), "phase": vram.get("phase"), "budget_gb": vram.get("budget_gb"),
        "ram_gb": (vram.get("ram") or {}).get("estimate_gb"), "correction": vram.get("correction"),
    }  # fmt: skip
    raw = predicted["vram_gb"]
    if isinstance(raw, int | float) and isinstance(predicted["correction"], int | float) and predicted["correction"]:
        raw = raw / predicted["correction"]  # the model's own figure, before an earlier correction
    ratio = round(peaks.vram_gb / raw, 3) if peaks.vram_gb and isinstance(raw, int | float) and raw > 0 else None
    return {"predicted": predicted, "measured": asdict(peaks), "ratio": ratio}


def write_memory_record(folder: Path, record: dict[str, Any]) -> None:
    write_atomic(folder / "memory.json", json.dumps(record, indent=2) + "\n")


def learn_ratio(home: Path, record: dict[str, Any], run_id: str) -> dict[str, Any] | None:
    """Fold a run's measured/predicted ratio into the GPU model's running mean."""
    from kohyawiz.memory.machine import CALIBRATION_FILE, RATIO_RANGE

    ratio, name = record.get("ratio"), record["measured"].get("gpu_name")
    if not isinstance(ratio, int | float) or not name or not RATIO_RANGE[0] <= ratio <= RATIO_RANGE[1]:
        return None
    path = home / CALIBRATION_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        data = {}
    data = data if isinstance(data, dict) else {}
    found = data.get(name)
    old: dict[str, Any] = found if isinstance(found, dict) else {}
    runs = int(old.get("runs", 0)) if isinstance(old.get("runs", 0), int) else 0
    mean = (float(old.get("ratio", ratio)) * runs + ratio) / (runs + 1) if runs else float(ratio)
    data[name] = {"ratio": round(mean, 3), "runs": runs + 1, "run": run_id}
    os.makedirs(home, exist_ok=True)
    write_atomic(path, json.dumps(data, indent=2) + "\n")
    return dict(data[name])


def memory_lines(record: dict[str, Any]) -> list[str]:
    """`Memory: VRAM predicted 9.7 GB (training), measured 10.2 GB (nvidia-smi) ...`."""
    predicted, measured = record.get("predicted") or {}, record.get("measured") or {}

    def gb(value: Any) -> str:
        return "-" if not isinstance(value, int | float) else f"{value:.1f} GB"

    phase = f" ({str(predicted.get('phase')).replace('_', ' ')})" if predicted.get("phase") else ""
    vram = measured.get("vram_gb")
    source = measured.get("source") or "none"
    seen = f"measured {gb(vram)} peak ({source})" if vram else "not measured (no nvidia-smi saw the run)"
    lines = [f"Memory: VRAM predicted {gb(predicted.get('vram_gb'))}{phase}, {seen}"]
    if record.get("ratio"):
        lines[0] += f", measured/predicted {record['ratio']:g}"
    lines.append(f"        RAM predicted {gb(predicted.get('ram_gb'))}, measured {gb(measured.get('ram_gb'))} peak")
    return lines
