"""The guide as code. Each rule is a pure function registered under its RULES.md id."""

from __future__ import annotations

from kohyawiz.decisions import Decider, Decision, Finding
from kohyawiz.rules import families, model, network, output, schedule, training
from kohyawiz.rules.context import REGISTRY, ConceptPlan, Context, vram_tier

# Order matters where a rule reads another's effective value.
ORDER = (
    "T-BASE", "T-FAMILY", "F-TRAINER", "F-COMPANION", "T-CLIPSKIP", "T-ZSNR", "T-FORMAT", "T-RES",
    "L-PURPOSE", "L-DEFAULT", "F-MODULE",
    "M-BALANCE", "M-OVERBAKE", "M-NAMES", "M-SETTINGS", "D-COUNT",
    "T-PASSES", "T-BATCH",
    "T-RANK", "F-RANK", "L-LOCON", "L-LOHA", "L-LOKR", "L-DYLORA", "L-IA3", "K-LYCORIS", "L-STYLE", "K-NETARGS", "T-CONV", "T-NORMS", "T-DROPOUT",
    "T-OPT", "F-OPT", "F-LR", "T-PRECISION", "F-FLOW", "T-CACHE", "F-TECACHE", "T-GRADCKPT", "F-GRADCKPT", "F-FP8", "F-SWAP",
    "T-LOADER", "T-XATTN", "F-ATTN", "T-SNR", "F-LOSS", "F-VAE",
    "D-CAPTION", "T-FLIP", "D-ASYM",
    "K-VALIDATE", "T-SAVE",  # count steps: after everything that changes them (batch, accumulation, buckets)
    "K-OUTPUT", "K-LOGS", "K-SAMPLES", "F-PROMPTS", "K-RESUME",
)  # fmt: skip


def apply_rules(ctx: Context) -> None:
    missing = set(REGISTRY) - set(ORDER)
    if missing:
        raise RuntimeError(f"rules not in ORDER: {sorted(missing)}")
    for rule_id in ORDER:
        REGISTRY[rule_id](ctx)


__all__ = [
    "ORDER", "REGISTRY", "ConceptPlan", "Context", "Decider", "Decision", "Finding",
    "apply_rules", "families", "model", "network", "output", "schedule", "training", "vram_tier",
]  # fmt: skip
