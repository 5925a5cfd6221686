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
    """Activation memory in GiB: `base` per image plus `per_mp` per megapixel of training pixels
    per step, kept for the backward pass (with and without gradient checkpointing), and the
    transient of the largest block (`block_*`: with checkpointing, backward recomputes one block
    at a time and holds its activations).

    `calibrated` is true where tools/activation_facts.py measured them on sd-scripts' own model
    classes (vendor/memory-activations.toml, `measured` says how); otherwise they are the figures
    commonly reported for sd-scripts LoRA runs (vendor/memory.toml [activations]).
    """

    per_mp: float
    per_mp_checkpointed: float
    text_encoder: float
    vae_encode_per_mp: float
    calibrated: bool
    base: float = 0.0
    base_checkpointed: float = 0.0
    block_base: float = 0.0
    block_per_mp: float = 0.0
    allocator: float = 1.0
    vae_decode_per_mp: float = 6.0
    measured: str = "hand-kept figures, not measured"


# The CUDA caching allocator rounds blocks and keeps freed ones for reuse, so what nvidia-smi
# reports runs above the bytes autograd keeps: measured activations are scaled by this.
ALLOCATOR_SLACK = 1.15

# Kept free on the card: the desktop on a card that drives a display (0.3-1 GB for a compositor
# and a browser), allocator fragmentation the estimate cannot see, and cuDNN/cuBLAS workspaces
# that grow with the first steps. 0.4 GB or 5% of the card, whichever is more.
RESERVE_MIN_GB = 0.4
RESERVE_SHARE = 0.05


def vram_reserve_gb(budget_gb: float) -> float:
    return round(max(RESERVE_MIN_GB, RESERVE_SHARE * budget_gb), 2)


# System memory of the training process before any model: Python, torch and the CUDA runtime's
# host-side libraries (cuBLAS, cuDNN kernels are mapped into the process), about 2.5 GB in a
# CUDA build of torch 2.x; each data-loader worker is a forked Python with torch imported.
RAM_PROCESS_BASE_GB = 2.5
RAM_PER_LOADER_WORKER_GB = 0.5


@dataclass(frozen=True)
class CompanionFile:
    """A file the trainer loads besides the DiT: its parameters and stored bytes per parameter."""

    params: int
    dtype_bytes: int = 2


# Parameters of the usual companion files (the published checkpoints), for files whose header is
# missing, unreadable or too small to be the real model.
COMPANION_PARAMS = {
    "clip_l": 123_060_480, "clip_g": 694_659_840, "t5xxl": 4_762_310_656, "gemma2": 2_614_341_888,
    "qwen3": 596_049_920, "text_encoder": 8_292_166_656, "byt5": 218_000_000,
    "ae": 83_819_683, "vae": 83_653_863,
}  # fmt: skip
VAE_PARAMS = {"anima": 126_892_531, "hunyuan-image": 406_000_000}


def companion_default(arg: str, family: str = "") -> CompanionFile:
    if arg == "vae" and family in VAE_PARAMS:
        return CompanionFile(VAE_PARAMS[family])
    return CompanionFile(COMPANION_PARAMS.get(arg, 0))


# Latent channels and the VAE's downsampling per family (cached latents in memory).
LATENT_SHAPE = {"sd1": (4, 8), "sd2": (4, 8), "sdxl": (4, 8), "hunyuan-image": (64, 32)}


def latent_shape(family: str) -> tuple[int, int]:
    return LATENT_SHAPE.get(family, (16, 8))


# Bytes of one caption's cached text-encoder outputs (bf16 hidden states at the trainer's token
# length: T5 512 x 4096, Gemma2 256 x 2304, Qwen3 512 x 1024, Qwen2.5-VL 1000 x 3584 + byT5).
TE_OUTPUT_BYTES = {
    "sd1": 77 * 768 * 2, "sd2": 77 * 1024 * 2, "sdxl": 77 * 2048 * 2 + 1280 * 2,
    "flux": 512 * 4096 * 2 + 768 * 2, "chroma": 512 * 4096 * 2, "sd3": (77 + 256) * 4096 * 2 + 2048 * 2,
    "lumina": 256 * 2304 * 2, "anima": 512 * 1024 * 2, "hunyuan-image": 1000 * 3584 * 2 + 128 * 1472 * 2,
}  # fmt: skip


def te_output_bytes(family: str) -> int:
    return TE_OUTPUT_BYTES.get(family, 512 * 4096 * 2)


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


@cache
def measured_activations() -> dict[str, Any]:
    path = vendor_dir() / "memory-activations.toml"
    return tomllib.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def activation_facts(family: str) -> ActivationFacts:
    table = memory_facts()["activations"][family]
    hand = ActivationFacts(
        float(table["per_mp"]), float(table["per_mp_checkpointed"]), float(table["text_encoder"]),
        float(table["vae_encode_per_mp"]), bool(table["calibrated"]),
    )  # fmt: skip
    measured = measured_activations().get(family)
    if not measured:
        return hand
    how = measured_activations().get("measured_with", {})
    return ActivationFacts(
        float(measured["per_mp"]), float(measured["per_mp_checkpointed"]), hand.text_encoder,
        hand.vae_encode_per_mp, True, base=float(measured["base"]),
        base_checkpointed=float(measured["base_checkpointed"]), block_base=float(measured["block_base"]),
        block_per_mp=float(measured["block_per_mp"]), allocator=ALLOCATOR_SLACK,
        measured=str(measured.get("how") or how.get("how", "measured")),
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
