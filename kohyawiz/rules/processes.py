"""Many GPUs, many machines (K-PROCESSES): what data-parallel training changes in a plan.

sd-scripts' train_network.py divides an epoch's batches by accelerate's num_processes (every GPU
of every machine) and by gradient accumulation, and turns max_train_epochs into max_train_steps
with that count; so a fixed max_train_steps trains N times the epochs on N processes. Each process
holds a whole copy of the model, its optimizer state and its batch: memory does not add up across
cards.
"""

from __future__ import annotations

import math

from kohyawiz.rules.base import Finding

RULE = "K-PROCESSES"
_SOURCES = {"user": "set with --set", "preset": "from the preset", "rule": "from a rule"}


def spread(gpus: int, nodes: int) -> str:
    """`16 processes (2 machines x 8 GPUs)`, or `4 GPUs` on one machine."""
    processes = gpus * nodes
    if nodes == 1:
        return f"{processes} GPU" if processes == 1 else f"{processes} GPUs"
    return f"{processes} processes ({nodes} machines x {gpus} GPU{'s' if gpus > 1 else ''})"


def fixed_steps_finding(
    steps: int, source: str, gpus: int, nodes: int, batches: int, accumulation: int
) -> Finding | None:
    """A max_train_steps without max_train_epochs on several processes is refused: it would
    train `processes` times the epochs it trains on one GPU."""
    processes = gpus * nodes
    if processes <= 1 or batches <= 0:
        return None
    one = math.ceil(batches / accumulation)
    many = math.ceil(batches / processes / accumulation)
    epochs_one, epochs_many = math.ceil(steps / one), math.ceil(steps / many)
    return Finding(
        RULE, "error",
        f"max_train_steps {steps} ({_SOURCES.get(source, source)}) on {spread(gpus, nodes)} trains {epochs_many} epochs, not the "
        f"{epochs_one} it trains on one GPU: a plan on several GPUs is counted in epochs; "
        f"set max_train_epochs={epochs_one} instead of max_train_steps",
    )  # fmt: skip


def bucket_findings(buckets: dict[tuple[int, int], int], batch_size: int, gpus: int, nodes: int) -> list[Finding]:
    """Every bucket should fill one batch on every process; a smaller one gives some processes a
    short or repeated batch, and its images weigh differently from the rest."""
    processes = gpus * nodes
    need = batch_size * processes
    if processes <= 1:
        return []
    short = {reso: n for reso, n in buckets.items() if n < need}
    if not short:
        return []
    named = ", ".join(f"{w}x{h} holds {n}" for (w, h), n in list(short.items())[:4])
    more = f" and {len(short) - 4} more" if len(short) > 4 else ""
    return [
        Finding(
            RULE, "warn",
            f"each aspect bucket should hold at least batch {batch_size} x {processes} processes = {need} images "
            f"(repeats included): {named}{more}. Raise those images' repeats, crop them to a fuller bucket's "
            f"aspect ratio, lower train_batch_size, or train on fewer GPUs",
        )
    ]  # fmt: skip


def per_card(processes: int) -> str:
    """What the memory verdict adds on several cards."""
    return f", on each of {processes} cards (memory does not add up across cards)" if processes > 1 else ""


def memory_finding(estimate_gb: float, gpus: int, nodes: int) -> Finding | None:
    processes = gpus * nodes
    if processes <= 1:
        return None
    return Finding(
        RULE, "info",
        f"VRAM is per card: data-parallel training on {spread(gpus, nodes)} keeps the whole model, its "
        f"optimizer state and a batch on every card, so memory does not add up across cards; each one needs "
        f"about {estimate_gb:.1f} GB",
    )  # fmt: skip
