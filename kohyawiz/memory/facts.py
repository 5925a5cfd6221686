"""What the memory model knows: parameter counts read off the real models (vendor/memory.toml,
written by tools/model_facts.py) and per-optimizer and per-activation figures."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import cache
from typing import Any

from kohyawiz.resources import vendor_dir

# Bytes of optimizer state per trainable parameter (fp32 state unless 8-bit), by the lower-case
# optimizer_type prefix sd-scripts understands (library/train_util.py get_optimizer).
OPTIMIZER_STATE = (
    ("prodigyplus", 12.0),  # two moments and the initial weights, schedule-free
    ("prodigy", 16.0),  # exp_avg, exp_avg_sq, s and the initial weights p0
    ("dadapt", 12.0),  # exp_avg, exp_avg_sq, s
    ("adamw8bit", 2.0),
    ("pagedadamw8bit", 2.0),
    ("ademamix8bit", 3.0),
    ("pagedademamix8bit", 3.0),
    ("lion8bit", 1.0),
    ("pagedlion8bit", 1.0),
    ("lion", 4.0),
    ("sgdnesterov8bit", 1.0),
    ("sgdnesterov", 4.0),
    ("adafactor", 1.0),  # factored second moment, no first moment by default
    ("adamwschedulefree", 8.0),
    ("radamschedulefree", 8.0),
    ("sgdschedulefree", 4.0),
    ("adamw", 8.0),
)
UNKNOWN_OPTIMIZER_STATE = 8.0


def optimizer_state_bytes(optimizer_type: str) -> float:
    name = optimizer_type.lower().replace("_", "")
    for prefix, size in OPTIMIZER_STATE:
        if name.startswith(prefix):
            return size
    return UNKNOWN_OPTIMIZER_STATE


@dataclass(frozen=True)
class ActivationFacts:
    """Activation memory per megapixel of training resolution and image in the batch, in GiB.

    Until bench/vram_gpu.py has run on a GPU these come from figures people commonly report for
    sd-scripts LoRA runs with sdpa/xformers; `calibrated` says which.
    """

    per_mp: float
    per_mp_checkpointed: float
    text_encoder: float
    vae_encode_per_mp: float
    calibrated: bool


@cache
def memory_facts() -> dict[str, Any]:
    return tomllib.loads((vendor_dir() / "memory.toml").read_text(encoding="utf-8"))


@cache
def _dit_tables() -> dict[str, Any]:
    return tomllib.loads((vendor_dir() / "memory-dit.toml").read_text(encoding="utf-8"))


def dit_facts(family: str) -> dict[str, Any] | None:
    """The transformer's parameter count, swap limit and LoRA size per dim (vendor/memory-dit.toml)."""
    table = _dit_tables().get(family)
    return dict(table) if table is not None else None


def family_facts(family: str) -> dict[str, Any]:
    facts = memory_facts()
    if family not in facts:
        raise KeyError(f"no memory facts for {family}")
    return dict(facts[family])


def activation_facts(family: str) -> ActivationFacts:
    table = memory_facts()["activations"][family]
    return ActivationFacts(
        float(table["per_mp"]), float(table["per_mp_checkpointed"]), float(table["text_encoder"]),
        float(table["vae_encode_per_mp"]), bool(table["calibrated"]),
    )  # fmt: skip


def runtime_overhead_gb() -> float:
    return float(memory_facts()["runtime"]["overhead_gb"])


def network_params(family: str, network: str, dim: int) -> tuple[int, int]:
    """Trainable (UNet, text encoder) parameters at `dim`, interpolated between the measured dims."""
    table = {int(k): (int(v[0]), int(v[1])) for k, v in family_facts(family)[f"network.{network}"].items()}
    if dim in table:
        return table[dim]
    dims = sorted(table)
    if dim < dims[0]:
        return table[dims[0]]
    if dim > dims[-1]:
        low, high = dims[-2], dims[-1]
    else:
        low = max(d for d in dims if d < dim)
        high = min(d for d in dims if d > dim)
    share = (dim - low) / (high - low)
    unet = table[low][0] + share * (table[high][0] - table[low][0])
    te = table[low][1] + share * (table[high][1] - table[low][1])
    return max(0, round(unet)), max(0, round(te))
