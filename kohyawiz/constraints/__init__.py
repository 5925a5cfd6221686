"""sd-scripts' run-time rules as constraints over a whole plan (C- ids).

The sweep that found them, with where each comes from and which constraint covers it, is
vendor/sd-scripts-facts/runtime-sweep.toml.
"""

from __future__ import annotations

from kohyawiz.constraints import buckets, caching, dit, loader, network, optimizer, precision, ranges, training
from kohyawiz.constraints.base import REGISTRY, Checker, Constraint, constraint

# Order matters where one constraint's change can start another's conflict (an implied cache
# before the checks of what caching excludes).
ORDER = (
    "C-RANGE", "C-CACHE-DISK", "C-TECACHE-DISK", "C-CACHE-AUG", "C-TECACHE-CAPTIONS", "C-TECACHE-TRAIN",
    "C-TRAIN-PARTS", "C-LOADER", "C-FULL-HALF", "C-FP8", "C-SDXL-V2", "C-CLIPSKIP", "C-VPRED", "C-NOISE", "C-ATTENTION",
    "C-OPTIMIZER", "C-KWARGS", "C-OPT-FLAGS", "C-FUSED", "C-ADAPTIVE-LR", "C-WARMUP",
    "C-BUCKET-STEPS", "C-BUCKET-RANGE", "C-NO-BUCKET",
    "C-DYLORA", "C-BOFT", "C-NORMS", "C-BLOCKS",
    "C-LENGTH", "C-SAMPLING", "C-RESUME",
    "C-CHROMA-MASK", "C-T5-CACHE", "C-DIT-ONLY", "C-SWAP-MAX", "C-SWAP-OFFLOAD", "C-SPLIT-ATTN", "C-FP8-DIT",
    "C-MODEL-TYPE", "C-CHROMA-OFFLOAD",
)  # fmt: skip


def apply_constraints(checker: Checker) -> None:
    """Run every constraint until nothing gives way (a change can start another conflict)."""
    missing = set(REGISTRY) - set(ORDER)
    if missing:
        raise RuntimeError(f"constraints not in ORDER: {sorted(missing)}")
    for attempt in range(3):
        changed, warned = len(checker.changed), len(checker.decider.findings)
        checker.refusals.clear()
        for cid in ORDER:
            REGISTRY[cid].check(checker)
        if len(checker.changed) == changed or attempt == 2:
            return
        del checker.decider.findings[warned:]  # the settled pass says them again

__all__ = [
    "ORDER", "REGISTRY", "Checker", "Constraint", "apply_constraints", "buckets", "caching", "constraint", "dit",
    "loader", "network", "optimizer", "precision", "ranges", "training",
]  # fmt: skip
