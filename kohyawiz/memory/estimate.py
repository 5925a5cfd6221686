"""How much GPU and system memory a plan needs, phase by phase.

A run's peak can come before training: sd-scripts' trainers (train_network.py train()) first
cache latents with the VAE alone on the GPU, then cache text-encoder outputs with the encoders
on the GPU at their loaded dtype (the DiT and VAE moved to the CPU: flux_train_network.py,
sd3_, lumina_, anima_, hunyuan_image_train_network.py cache_text_encoder_outputs_if_needed),
then train, and sample between steps. The estimate is the largest phase.

Static parts come from parameter counts read off the real models (vendor/memory.toml,
vendor/memory-dit.toml) and the companion files' own headers; activations from
vendor/memory-activations.toml (measured by tools/activation_facts.py on sd-scripts' model
classes) where a family has them, otherwise the hand-kept figures in vendor/memory.toml.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from kohyawiz.memory.facts import (
    RAM_PER_LOADER_WORKER_GB,
    RAM_PROCESS_BASE_GB,
    CompanionFile,
    activation_facts,
    companion_default,
    dit_facts,
    family_facts,
    latent_shape,
    network_params,
    optimizer_state_bytes,
    runtime_overhead_gb,
    te_output_bytes,
    vram_reserve_gb,
)
from kohyawiz.values import parse_resolution

GIB = 1024**3
Lookup = Callable[[str], Any]
PHASES = ("loading", "latent_caching", "text_encoder_caching", "training", "sampling")
TE_ENCODE_GB = 0.2
"""One caption batch through an encoder without gradients (the caching pass): hidden states of a
few hundred tokens, small beside the weights."""
SAMPLE_MEGAPIXELS = 512 * 512 / 1e6
"""sd-scripts samples at 512x512 unless a prompt line sets --w/--h (train_util.sample_images)."""


@dataclass(frozen=True)
class RamEstimate:
    """System memory the run needs, against the machine's (None: unknown)."""

    estimate_gb: float
    machine_gb: float | None
    phases: dict[str, float]
    parts: dict[str, float]
    source: str = "read"
    """"given" (--ram), "read" (/proc/meminfo of the planning machine) or "unknown"."""

    @property
    def phase(self) -> str:
        return max(self.phases, key=lambda k: self.phases[k]) if self.phases else "training"

    @property
    def fits(self) -> bool:
        return self.machine_gb is None or self.estimate_gb <= self.machine_gb

    def as_dict(self) -> dict[str, Any]:
        return {"estimate_gb": self.estimate_gb, "machine_gb": self.machine_gb, "fits": self.fits,
                "phase": self.phase, "phases": dict(self.phases), "parts": dict(self.parts),
                "source": self.source}  # fmt: skip


@dataclass(frozen=True)
class VramEstimate:
    estimate_gb: float
    budget_gb: float
    parts: dict[str, float]
    """The training phase, part by part."""
    calibrated: bool
    trainable_params: int
    steps: list[str] = field(default_factory=list)
    """What the fallback ladder changed to fit, in order."""
    phases: dict[str, float] = field(default_factory=dict)
    """Each phase's peak (GB); the estimate is the largest."""
    reserve_gb: float = 0.0
    """Kept free on the card: see facts.vram_reserve_gb."""
    ram: RamEstimate | None = None
    correction: float | None = None
    """Measured/predicted ratio of earlier runs on this GPU model, applied to the estimate."""
    correction_from: str = ""
    measured: str = ""
    """How the activation figures were obtained (vendor/memory-activations.toml)."""
    encoder_bytes: dict[str, int] = field(default_factory=dict)
    """Bytes per parameter of each companion encoder file, as its header stores it."""

    @property
    def phase(self) -> str:
        """The phase that decides the estimate."""
        return max(self.phases, key=lambda k: self.phases[k]) if self.phases else "training"

    @property
    def fits(self) -> bool:
        """The peak stays under the card less the reserve."""
        return self.estimate_gb <= self.budget_gb - self.reserve_gb

    @property
    def tight(self) -> bool:
        """Over the reserve line but still under the card: it may run, with no room to spare."""
        return not self.fits and self.estimate_gb <= self.budget_gb

    @property
    def word(self) -> str:
        return "fits" if self.fits else "tight" if self.tight else "does NOT fit"

    @property
    def frozen_gb(self) -> float:
        return sum(self.parts.get(k, 0.0) for k in ("unet", "text_encoders", "vae"))

    def as_dict(self) -> dict[str, Any]:
        return {
            "estimate_gb": self.estimate_gb,
            "budget_gb": self.budget_gb,
            "fits": self.fits,
            "verdict": self.word,
            "phase": self.phase,
            "phases": dict(self.phases),
            "reserve_gb": self.reserve_gb,
            "parts": dict(self.parts),
            "calibrated": self.calibrated,
            "measured": self.measured,
            "trainable_params": self.trainable_params,
            "steps": list(self.steps),
            "correction": self.correction,
            "correction_from": self.correction_from,
            **({"ram": self.ram.as_dict()} if self.ram is not None else {}),
        }

    def verdict(self) -> str:
        return f"VRAM about {self.estimate_gb:.1f} of {self.budget_gb:g} GB: {self.word}"


@dataclass(frozen=True)
class Machine:
    """What the plan knows of the machine beyond the card."""

    ram_gb: float | None = None
    ram_source: str = "unknown"
    images: int = 0
    """Images in the dataset (cached latents and text-encoder outputs scale with them)."""
    correction: float | None = None
    correction_from: str = ""
    model_bytes: int | None = None
    """Bytes per parameter the model file stores (its header's dtype), when it was read."""


def _on(value: Any) -> bool:
    return bool(value) and value not in ("false", "False")


def _int(value: Any, default: int) -> int:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) and value > 0 else default


def _pixels_per_step(value: Lookup, default_size: int) -> tuple[float, int, float]:
    """Training megapixels per step (resolution x batch), the batch and one image's megapixels."""
    try:
        width, height = parse_resolution(value("resolution") or str(default_size))
    except ValueError:
        width, height = default_size, default_size
    batch = _int(value("train_batch_size"), 1)
    return width * height / 1e6 * batch, batch, width * height / 1e6


def _network_key(network: str, lokr_size: str) -> str:
    return "lokr-large" if network == "lokr" and lokr_size == "large" else network


# Share of a DiT's parameters that sit in the blocks block swapping moves; two blocks' worth stay
# on the GPU as the swap's landing space (library/custom_offloading_utils.py).
BLOCK_SHARE = 0.95
COMPANION_KEYS = ("clip_l", "clip_g", "t5xxl", "gemma2", "qwen3", "text_encoder", "byt5")
VAE_KEYS = ("ae", "vae")


def _activations(family: str, value: Lookup, megapixels: float, batch: int) -> tuple[float, float, bool, str]:
    """(kept for backward, transient of the largest block) in GiB, whether measured, and how."""
    act = activation_facts(family)
    checkpointed = _on(value("gradient_checkpointing"))
    kept = act.base * batch + act.per_mp * megapixels
    if checkpointed:
        kept = act.base_checkpointed * batch + act.per_mp_checkpointed * megapixels
    # With checkpointing, backward recomputes one block at a time and holds that block's activations
    # besides the checkpoints; without it they are already among what was kept.
    transient = act.block_base * batch + act.block_per_mp * megapixels if checkpointed else 0.0
    return kept * act.allocator, transient, act.calibrated, act.measured


def _encoders_on_gpu(family: str, value: Lookup, companions: dict[str, CompanionFile]) -> dict[str, float]:
    """GB each text encoder takes on the GPU in the caching pass, at the dtype its trainer loads it."""
    weight = 2
    out: dict[str, float] = {}
    fp8_base = _on(value("fp8_base")) and not _on(value("fp8_base_unet"))
    for arg in COMPANION_KEYS:
        if arg not in companions:
            continue
        file = companions[arg]
        size = weight
        if arg == "t5xxl" and fp8_base and file.dtype_bytes == 1:
            size = 1  # loaded as is with fp8_base (flux_train_network.py, sd3_train_network.py)
        elif arg == "text_encoder" and family == "hunyuan-image":
            if _on(value("text_encoder_cpu")):
                continue  # encoded on the CPU (hunyuan_image_train_network.py)
            size = 1 if _on(value("fp8_vl")) else 2
        elif arg == "byt5" and _on(value("text_encoder_cpu")):
            continue
        out[arg] = file.params * size / GIB
    return out


def estimate_vram(
    value: Lookup, family: str, network: str, budget_gb: float, *, lokr_size: str = "small",
    dit_params: int | None = None, companions: dict[str, CompanionFile] | None = None,
    machine: Machine | None = None,
) -> VramEstimate:  # fmt: skip
    """The estimate for effective values `value(key)` (None when a key is left to sd-scripts).
    For a DiT, `dit_params` is the checkpoint's own count when its header was read, and
    `companions` the files its trainer loads besides (text encoders, VAE)."""
    machine = machine or Machine()
    companions = dict(companions or {})
    dit = dit_facts(family)
    if dit is not None:
        for arg in (*COMPANION_KEYS, *VAE_KEYS):
            if value(arg) is not None and arg not in companions:
                companions[arg] = companion_default(arg)
        estimate = _estimate_dit(value, family, dit, budget_gb, dit_params, companions, machine)
        stored = {arg: f.dtype_bytes for arg, f in companions.items() if arg in COMPANION_KEYS}
        estimate = replace(estimate, encoder_bytes=stored)
    else:
        estimate = _estimate_sd(value, family, network, budget_gb, lokr_size, machine)
    if machine.correction:  # every phase, as the measured runs' peaks were
        phases = {k: round(v * machine.correction, 2) for k, v in estimate.phases.items()}
        estimate = replace(estimate, estimate_gb=max(phases.values()), phases=phases, correction=machine.correction,
                           correction_from=machine.correction_from)  # fmt: skip
    return estimate


def _common(value: Lookup, trainable: int) -> dict[str, float]:
    net_bytes = 2 if _on(value("full_fp16")) or _on(value("full_bf16")) else 4
    optimizer = str(value("optimizer_type") or "AdamW")
    return {
        "network": trainable * net_bytes / GIB,
        "gradients": trainable * net_bytes / GIB,
        "optimizer": trainable * optimizer_state_bytes(optimizer) / GIB,
    }


def _estimate_sd(
    value: Lookup, family: str, network: str, budget_gb: float, lokr_size: str, machine: Machine
) -> VramEstimate:
    facts = family_facts(family)
    mixed = value("mixed_precision") or "no"
    half = mixed in ("fp16", "bf16")
    weight_bytes = 2 if half else 4
    fp8_unet = half and (_on(value("fp8_base")) or _on(value("fp8_base_unet")))
    fp8_te = half and _on(value("fp8_base")) and not _on(value("fp8_base_unet"))
    te_cached = _on(value("cache_text_encoder_outputs")) or _on(value("cache_text_encoder_outputs_to_disk"))
    latents_cached = _on(value("cache_latents")) or _on(value("cache_latents_to_disk"))
    vae_bytes = 4 if _on(value("no_half_vae")) or not half else 2
    te_gb = facts["text_encoders"] * (1 if fp8_te else weight_bytes) / GIB
    vae_gb = facts["vae"] * vae_bytes / GIB
    parts: dict[str, float] = {
        "unet": facts["unet"] * (1 if fp8_unet else weight_bytes) / GIB,
        "text_encoders": 0.0 if te_cached else te_gb,
        "vae": 0.0 if latents_cached else vae_gb,
    }
    dim = _int(value("network_dim"), 4)
    unet_params, te_params = network_params(family, _network_key(network, lokr_size), dim)
    train_unet = not _on(value("network_train_text_encoder_only"))
    train_te = not _on(value("network_train_unet_only")) and not te_cached
    trainable = (unet_params if train_unet else 0) + (te_params if train_te else 0)
    parts.update(_common(value, trainable))
    megapixels, batch, image_mp = _pixels_per_step(value, 512)
    kept, transient, calibrated, measured = _activations(family, value, megapixels, batch)
    scale = 1 if half else 2
    activations = (kept + transient) * scale
    act = activation_facts(family)
    if train_te:
        activations += act.text_encoder * batch
    encode = act.vae_encode_per_mp * image_mp * _int(value("vae_batch_size"), 1) * (vae_bytes / 4)
    if not latents_cached:
        activations += encode * batch / _int(value("vae_batch_size"), 1)
    parts["activations"] = activations
    runtime = runtime_overhead_gb()
    parts["runtime"] = runtime
    phases = {
        "loading": parts["unet"] + parts["text_encoders"] + parts["vae"] + runtime,
        "training": sum(parts.values()),
    }
    if latents_cached:
        phases["latent_caching"] = vae_gb + encode + runtime
    if te_cached:
        phases["text_encoder_caching"] = te_gb + TE_ENCODE_GB + runtime
    if _on(value("sample_every_n_steps")) or _on(value("sample_every_n_epochs")) or _on(value("sample_at_first")):
        phases["sampling"] = (parts["unet"] + te_gb + vae_gb + parts["network"] + parts["optimizer"]
                              + act.vae_decode_per_mp * SAMPLE_MEGAPIXELS * (vae_bytes / 4) + runtime)  # fmt: skip
    ram = _ram_sd(value, facts, half, te_cached, latents_cached, machine, family)
    return _finish(parts, phases, budget_gb, calibrated, trainable, ram, measured)


def _finish(
    parts: dict[str, float], phases: dict[str, float], budget_gb: float, calibrated: bool, trainable: int,
    ram: RamEstimate, measured: str,
) -> VramEstimate:
    parts = {k: round(v, 3) for k, v in parts.items()}
    phases = {k: round(phases[k], 2) for k in PHASES if k in phases}
    peak = max(phases.values())
    return VramEstimate(round(peak, 2), float(budget_gb), parts, calibrated, trainable, phases=phases,
                        reserve_gb=vram_reserve_gb(budget_gb), ram=ram, measured=measured)  # fmt: skip


def _estimate_dit(
    value: Lookup, family: str, dit: dict[str, Any], budget_gb: float, dit_params: int | None,
    companions: dict[str, CompanionFile], machine: Machine,
) -> VramEstimate:  # fmt: skip
    act = activation_facts(family)
    params = int(dit_params or dit["dit"])
    blocks = int(dit["max_swap"]) + 2
    fp8 = _on(value("fp8_base")) or _on(value("fp8_base_unet")) or _on(value("fp8_scaled"))
    half = (value("mixed_precision") or "no") in ("fp16", "bf16")
    weight_bytes = 1 if fp8 else (2 if half else 4)
    swapped = min(_int(value("blocks_to_swap"), 0), blocks - 2)
    resident = params * (1 - BLOCK_SHARE * swapped / blocks)
    te_cached = _on(value("cache_text_encoder_outputs")) or _on(value("cache_text_encoder_outputs_to_disk"))
    latents_cached = _on(value("cache_latents")) or _on(value("cache_latents_to_disk"))
    trainable = int(dit["lora_per_dim"]) * _int(value("network_dim"), 4)
    megapixels, batch, image_mp = _pixels_per_step(value, 1024)
    kept, transient, calibrated, measured = _activations(family, value, megapixels, batch)
    encoders = _encoders_on_gpu(family, value, companions)
    vae = next((companions[k] for k in VAE_KEYS if k in companions), None)
    vae_gb = (vae.params if vae else 0) * 2 / GIB
    encode = act.vae_encode_per_mp * image_mp * _int(value("vae_batch_size"), 1) / 2
    runtime = runtime_overhead_gb()
    parts: dict[str, float] = {
        "unet": resident * weight_bytes / GIB,
        "text_encoders": 0.0 if te_cached else sum(encoders.values()),
        "vae": 0.0 if latents_cached else vae_gb,
        **_common(value, trainable),
        "activations": kept + transient + (0.0 if latents_cached else encode * batch),
        "runtime": runtime,
    }
    block_gb = params / blocks * 2 / GIB  # one block at its load dtype while it is converted
    phases = {
        "loading": parts["unet"] + (block_gb if fp8 else 0.0) + runtime,
        "training": sum(parts.values()),
    }
    if latents_cached:
        phases["latent_caching"] = vae_gb + encode + runtime
    if te_cached:
        phases["text_encoder_caching"] = sum(encoders.values()) + TE_ENCODE_GB * len(encoders) + runtime
    if _on(value("sample_every_n_steps")) or _on(value("sample_every_n_epochs")) or _on(value("sample_at_first")):
        phases["sampling"] = (parts["unet"] + parts["network"] + parts["optimizer"] + vae_gb
                              + act.vae_decode_per_mp * SAMPLE_MEGAPIXELS / 2 + transient + runtime)  # fmt: skip
    ram = _ram_dit(value, family, params, weight_bytes, swapped, blocks, companions, te_cached, latents_cached,
                   machine)  # fmt: skip
    return _finish(parts, phases, budget_gb, calibrated, trainable, ram, measured)


def _cache_ram(value: Lookup, family: str, machine: Machine, latents_cached: bool, te_cached: bool) -> dict[str, float]:
    """Cached latents and text-encoder outputs kept in memory (not on disk), and loader workers."""
    _mp, _batch, image_mp = _pixels_per_step(value, 1024 if dit_facts(family) else 512)
    copies = 2 if _on(value("flip_aug")) else 1
    channels, down = latent_shape(family)
    latent_bytes = channels * image_mp * 1e6 / (down * down) * 4
    parts = {
        "latents": (machine.images * copies * latent_bytes / GIB
                    if latents_cached and not _on(value("cache_latents_to_disk")) else 0.0),
        "text_encoder_outputs": (machine.images * te_output_bytes(family) / GIB
                                 if te_cached and not _on(value("cache_text_encoder_outputs_to_disk")) else 0.0),
        "loader_workers": _int(value("max_data_loader_n_workers"), 0) * RAM_PER_LOADER_WORKER_GB,
        "process": RAM_PROCESS_BASE_GB,
    }  # fmt: skip
    return parts


def _ram(phases: dict[str, float], parts: dict[str, float], machine: Machine) -> RamEstimate:
    phases = {k: round(v, 2) for k, v in phases.items()}
    return RamEstimate(round(max(phases.values()), 2), machine.ram_gb, phases,
                       {k: round(v, 3) for k, v in parts.items()}, machine.ram_source)  # fmt: skip


def _ram_sd(
    value: Lookup, facts: dict[str, Any], half: bool, te_cached: bool, latents_cached: bool, machine: Machine,
    family: str,
) -> RamEstimate:  # fmt: skip
    """The checkpoint is loaded whole to the CPU (train_util.load_target_model) and the models stay
    there until they move; cached text encoders and the VAE go back to the CPU after caching."""
    loaded = (facts["unet"] + facts["text_encoders"] + facts["vae"]) * 4 / GIB  # converted to fp32 on load
    cache = _cache_ram(value, family, machine, latents_cached, te_cached)
    kept = (facts["text_encoders"] * 2 / GIB if te_cached else 0.0) + (facts["vae"] * 4 / GIB if latents_cached else 0.0)
    parts = {"models_on_cpu": kept, **cache}
    phases = {"loading": loaded + RAM_PROCESS_BASE_GB, "training": sum(parts.values())}
    return _ram(phases, parts, machine)


def _ram_dit(
    value: Lookup, family: str, params: int, weight_bytes: int, swapped: int, blocks: int,
    companions: dict[str, CompanionFile], te_cached: bool, latents_cached: bool, machine: Machine,
) -> RamEstimate:  # fmt: skip
    """The DiT is read to the CPU at the file's dtype and converted there (fp8_base: the whole
    model; flux_train_network.py load_target_model); swapped blocks live in RAM while training;
    the text encoders go back to the CPU after caching (HunyuanImage drops them to the meta device)."""
    encoders = {k: f for k, f in companions.items() if k in COMPANION_KEYS}
    # Converting to fp8 replaces one tensor at a time (Module.to), so the peak is the file's dtype
    # plus one block's converted copy, not both whole models.
    file_bytes = machine.model_bytes or (2 if weight_bytes < 2 else weight_bytes)
    loaded_dit = params * file_bytes / GIB + (params / blocks * weight_bytes / GIB if weight_bytes != file_bytes else 0.0)
    encoders_gb = sum(f.params * max(1, min(f.dtype_bytes, 2)) for f in encoders.values()) / GIB
    vae_gb = sum(companions[k].params * 2 for k in VAE_KEYS if k in companions) / GIB
    cache = _cache_ram(value, family, machine, latents_cached, te_cached)
    swapped_gb = params * BLOCK_SHARE * swapped / blocks * weight_bytes / GIB
    hunyuan = family == "hunyuan-image"
    kept_encoders = 0.0 if hunyuan and te_cached else encoders_gb
    parts = {"swapped_blocks": swapped_gb, "models_on_cpu": kept_encoders + vae_gb, **cache}
    # HunyuanImage loads its DiT after the encoders are gone; the others hold all three at once.
    loading = loaded_dit + (0.0 if hunyuan else encoders_gb) + vae_gb + RAM_PROCESS_BASE_GB
    phases = {"loading": loading, "training": sum(parts.values())}
    if te_cached:
        phases["text_encoder_caching"] = encoders_gb + vae_gb + RAM_PROCESS_BASE_GB + (
            params * weight_bytes / GIB if not hunyuan else 0.0)  # the DiT waits on the CPU
    return _ram(phases, parts, machine)
