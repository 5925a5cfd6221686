"""How much GPU memory a plan needs while it trains, part by part.

Static parts come from parameter counts read off the real models (vendor/memory.toml): frozen
weights at the dtype sd-scripts casts them to (train_network.py: weight_dtype, fp8_base, the VAE
and text encoders moved off the GPU once latents / outputs are cached), the network's trainable
parameters, their gradients and the optimizer's state. Activations scale with the training
pixels per step and drop with gradient checkpointing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kohyawiz.memory.facts import (
    activation_facts,
    dit_facts,
    family_facts,
    network_params,
    optimizer_state_bytes,
    runtime_overhead_gb,
)
from kohyawiz.values import parse_resolution

GIB = 1024**3
Lookup = Callable[[str], Any]


@dataclass(frozen=True)
class VramEstimate:
    estimate_gb: float
    budget_gb: float
    parts: dict[str, float]
    calibrated: bool
    trainable_params: int
    steps: list[str] = field(default_factory=list)
    """What the fallback ladder changed to fit, in order."""

    @property
    def fits(self) -> bool:
        return self.estimate_gb <= self.budget_gb

    @property
    def frozen_gb(self) -> float:
        return sum(self.parts.get(k, 0.0) for k in ("unet", "text_encoders", "vae"))

    def as_dict(self) -> dict[str, Any]:
        return {
            "estimate_gb": self.estimate_gb,
            "budget_gb": self.budget_gb,
            "fits": self.fits,
            "parts": dict(self.parts),
            "calibrated": self.calibrated,
            "trainable_params": self.trainable_params,
            "steps": list(self.steps),
        }

    def verdict(self) -> str:
        word = "fits" if self.fits else "does NOT fit"
        return f"VRAM about {self.estimate_gb:.1f} of {self.budget_gb:g} GB: {word}"


def _on(value: Any) -> bool:
    return bool(value) and value not in ("false", "False")


def _pixels_per_step(value: Lookup, default_size: int) -> tuple[float, int]:
    """Training megapixels per step (resolution x batch), and the batch."""
    try:
        width, height = parse_resolution(value("resolution") or str(default_size))
    except ValueError:
        width, height = default_size, default_size
    batch = value("train_batch_size")
    batch = int(batch) if isinstance(batch, int) and not isinstance(batch, bool) and batch > 0 else 1
    return width * height / 1e6 * batch, batch


def _network_key(network: str, lokr_size: str) -> str:
    return "lokr-large" if network == "lokr" and lokr_size == "large" else network


# Share of a DiT's parameters that sit in the blocks block swapping moves; two blocks' worth stay
# on the GPU as the swap's landing space (library/custom_offloading_utils.py).
BLOCK_SHARE = 0.95
COMPANION_KEYS = ("clip_l", "clip_g", "t5xxl", "gemma2", "qwen3", "text_encoder", "byt5")


def estimate_vram(
    value: Lookup, family: str, network: str, budget_gb: float, *, lokr_size: str = "small",
    dit_params: int | None = None, companion_params: int = 0,
) -> VramEstimate:  # fmt: skip
    """The estimate for effective values `value(key)` (None when a key is left to sd-scripts).
    For a DiT, `dit_params` is the checkpoint's own count when its header was read, and
    `companion_params` what its text encoders hold (they stay on the GPU unless cached)."""
    dit = dit_facts(family)
    if dit is not None:
        return _estimate_dit(value, family, dit, budget_gb, dit_params, companion_params)
    facts = family_facts(family)
    act = activation_facts(family)
    mixed = value("mixed_precision") or "no"
    half = mixed in ("fp16", "bf16")
    weight_bytes = 2 if half else 4
    fp8_unet = half and (_on(value("fp8_base")) or _on(value("fp8_base_unet")))
    fp8_te = half and _on(value("fp8_base")) and not _on(value("fp8_base_unet"))
    te_cached = _on(value("cache_text_encoder_outputs")) or _on(value("cache_text_encoder_outputs_to_disk"))
    latents_cached = _on(value("cache_latents")) or _on(value("cache_latents_to_disk"))
    vae_bytes = 4 if _on(value("no_half_vae")) or not half else 2
    parts: dict[str, float] = {
        "unet": facts["unet"] * (1 if fp8_unet else weight_bytes) / GIB,
        "text_encoders": 0.0 if te_cached else facts["text_encoders"] * (1 if fp8_te else weight_bytes) / GIB,
        "vae": 0.0 if latents_cached else facts["vae"] * vae_bytes / GIB,
    }
    dim = value("network_dim")
    dim = int(dim) if isinstance(dim, int | float) and not isinstance(dim, bool) and dim > 0 else 4
    unet_params, te_params = network_params(family, _network_key(network, lokr_size), dim)
    train_unet = not _on(value("network_train_text_encoder_only"))
    train_te = not _on(value("network_train_unet_only")) and not te_cached
    trainable = (unet_params if train_unet else 0) + (te_params if train_te else 0)
    net_bytes = 2 if _on(value("full_fp16")) or _on(value("full_bf16")) else 4
    optimizer = str(value("optimizer_type") or "AdamW")
    parts["network"] = trainable * net_bytes / GIB
    parts["gradients"] = trainable * net_bytes / GIB
    parts["optimizer"] = trainable * optimizer_state_bytes(optimizer) / GIB
    megapixels, batch = _pixels_per_step(value, 512)
    per_mp = act.per_mp_checkpointed if _on(value("gradient_checkpointing")) else act.per_mp
    activations = per_mp * megapixels * (1 if half else 2)
    if train_te:
        activations += act.text_encoder * batch
    if not latents_cached:
        activations += act.vae_encode_per_mp * megapixels * (vae_bytes / 4)
    parts["activations"] = activations
    parts["runtime"] = runtime_overhead_gb()
    parts = {k: round(v, 3) for k, v in parts.items()}
    return VramEstimate(round(sum(parts.values()), 2), float(budget_gb), parts, act.calibrated, trainable)


def _estimate_dit(
    value: Lookup, family: str, dit: dict[str, Any], budget_gb: float, dit_params: int | None, companion_params: int
) -> VramEstimate:
    act = activation_facts(family)
    params = int(dit_params or dit["dit"])
    blocks = int(dit["max_swap"]) + 2
    fp8 = _on(value("fp8_base")) or _on(value("fp8_base_unet")) or _on(value("fp8_scaled"))
    weight_bytes = 1 if fp8 else (2 if (value("mixed_precision") or "no") in ("fp16", "bf16") else 4)
    swap = value("blocks_to_swap")
    swapped = min(int(swap), blocks - 2) if isinstance(swap, int) and not isinstance(swap, bool) and swap > 0 else 0
    resident = params * (1 - BLOCK_SHARE * swapped / blocks)
    te_cached = _on(value("cache_text_encoder_outputs")) or _on(value("cache_text_encoder_outputs_to_disk"))
    dim = value("network_dim")
    dim = int(dim) if isinstance(dim, int | float) and not isinstance(dim, bool) and dim > 0 else 4
    trainable = int(dit["lora_per_dim"]) * dim
    optimizer = str(value("optimizer_type") or "AdamW")
    megapixels, _batch = _pixels_per_step(value, 1024)
    per_mp = act.per_mp_checkpointed if _on(value("gradient_checkpointing")) else act.per_mp
    parts: dict[str, float] = {
        "unet": resident * weight_bytes / GIB,
        "text_encoders": 0.0 if te_cached else companion_params * 2 / GIB,
        "vae": 0.0,
        "network": trainable * 4 / GIB,
        "gradients": trainable * 4 / GIB,
        "optimizer": trainable * optimizer_state_bytes(optimizer) / GIB,
        "activations": per_mp * megapixels,
        "runtime": runtime_overhead_gb(),
    }
    if not (_on(value("cache_latents")) or _on(value("cache_latents_to_disk"))):
        parts["activations"] += act.vae_encode_per_mp * megapixels / 2
    parts = {k: round(v, 3) for k, v in parts.items()}
    return VramEstimate(round(sum(parts.values()), 2), float(budget_gb), parts, act.calibrated, trainable)
