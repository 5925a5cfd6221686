"""The fallback ladder: when a plan does not fit the card, change what costs least first.

The order is fixed and explained (rule K-VRAM): for a DiT, first the trainer's remedies for the
text-encoder caching pass (HunyuanImage: the encoder in fp8, then on the CPU), then cached text-encoder outputs with UNet-only
training (SDXL), gradient checkpointing, latents cached to disk, an 8-bit optimizer, a lower rank,
fp8 base weights (where the sd-scripts version has them), transformer blocks swapped to the CPU
(the DiT families), a lower resolution. A step is kept only
when the person did not set what it changes and it lowers the estimate; it never overrides an
explicit choice. The ladder stops as soon as the plan fits.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kohyawiz.memory.estimate import Lookup, VramEstimate
from kohyawiz.values import parse_resolution

RESOLUTION_STEPS = (2048, 1792, 1536, 1280, 1024, 896, 768, 640, 512)  # HunyuanImage is native at 2048
LOWEST_RANK = 8


@dataclass(frozen=True)
class Fit:
    """What the ladder put in place of the rules' values."""

    values: dict[str, tuple[Any, str]] = field(default_factory=dict)
    optimizer: str | None = None
    steps: tuple[str, ...] = ()

    def plus(self, change: Fit) -> Fit:
        return Fit({**self.values, **change.values}, change.optimizer or self.optimizer, self.steps + change.steps)


@dataclass(frozen=True)
class FitContext:
    family: str
    budget_gb: float
    optimizer_is_free: bool
    """The person did not choose the optimizer, so the ladder may."""
    has_fp8: bool
    fp8_arg: str = "fp8_base"
    """The argument that stores the frozen model in fp8 (HunyuanImage: fp8_scaled)."""
    max_swap: int | None = None
    """The most transformer blocks the trainer can swap to the CPU (None: no block swapping)."""
    text_encoder_fp8_arg: str | None = None
    """The argument that loads the large text encoder in fp8 for the caching pass (HunyuanImage: fp8_vl)."""
    text_encoder_cpu_arg: str | None = None
    """The argument that encodes captions on the CPU (HunyuanImage: text_encoder_cpu)."""


def _why(step: str, ctx: FitContext) -> str:
    return f"{step} to fit {ctx.budget_gb:g} GB of VRAM"


def _on(value: Any) -> bool:
    return bool(value) and value not in ("false", "False")


def cache_text_encoders(value: Lookup, ctx: FitContext) -> Fit | None:
    if ctx.family != "sdxl" or _on(value("cache_text_encoder_outputs")):
        return None
    step = "text-encoder outputs cached, UNet-only training"
    why = _why(step, ctx)
    return Fit({"cache_text_encoder_outputs": (True, why), "network_train_unet_only": (True, why)}, steps=(step,))


def gradient_checkpointing(value: Lookup, ctx: FitContext) -> Fit | None:
    if _on(value("gradient_checkpointing")):
        return None
    step = "gradient checkpointing"
    return Fit({"gradient_checkpointing": (True, _why(step, ctx))}, steps=(step,))


def latents_to_disk(value: Lookup, ctx: FitContext) -> Fit | None:
    if _on(value("cache_latents_to_disk")):
        return None
    step = "latents cached to disk"
    why = _why(step, ctx)
    return Fit({"cache_latents": (True, why), "cache_latents_to_disk": (True, why)}, steps=(step,))


def eight_bit_optimizer(value: Lookup, ctx: FitContext) -> Fit | None:
    if not ctx.optimizer_is_free or "8bit" in str(value("optimizer_type") or "").lower():
        return None
    # The rules re-derive what pairs with the optimizer (alpha, learning rate, scheduler: T-RANK, F-RANK, F-LR).
    step = f"AdamW8bit instead of {value('optimizer_type')}, with its own alpha and learning rate"
    return Fit(optimizer="adamw8bit", steps=(step,))


def lower_rank(value: Lookup, ctx: FitContext) -> Fit | None:
    dim = value("network_dim")
    if not isinstance(dim, int) or isinstance(dim, bool) or dim <= LOWEST_RANK:
        return None
    lower = max(LOWEST_RANK, dim // 2)
    step = f"rank {lower} instead of {dim}"  # the rules pair alpha with it (T-RANK, F-RANK)
    return Fit({"network_dim": (lower, _why(step, ctx))}, steps=(step,))


def fp8_base(value: Lookup, ctx: FitContext) -> Fit | None:
    if not ctx.has_fp8 or _on(value(ctx.fp8_arg)) or _on(value("fp8_base")) or _on(value("fp8_base_unet")):
        return None
    step = "fp8 base weights" + (f" ({ctx.fp8_arg})" if ctx.fp8_arg != "fp8_base" else "")
    return Fit({ctx.fp8_arg: (True, _why(step, ctx))}, steps=(step,))


def swap_blocks(value: Lookup, ctx: FitContext) -> Fit | None:
    """Move a quarter more of the transformer's blocks to the CPU (slower, fits)."""
    if not ctx.max_swap:
        return None
    current = value("blocks_to_swap")
    current = current if isinstance(current, int) and not isinstance(current, bool) and current > 0 else 0
    if current >= ctx.max_swap:
        return None
    more = min(ctx.max_swap, current + max(4, -(-ctx.max_swap // 4)))
    step = f"{more} blocks swapped to the CPU" + (f" instead of {current}" if current else "")
    return Fit({"blocks_to_swap": (more, _why(step, ctx))}, steps=(step,))


def lower_resolution(value: Lookup, ctx: FitContext) -> Fit | None:
    try:
        width, height = parse_resolution(value("resolution") or "512")
    except ValueError:
        return None
    lower = next((r for r in RESOLUTION_STEPS if r < max(width, height)), None)
    if lower is None:
        return None
    step = f"resolution {lower} instead of {max(width, height)}"
    return Fit({"resolution": (f"{lower},{lower}", _why(step, ctx))}, steps=(step,))


def fp8_text_encoder(value: Lookup, ctx: FitContext) -> Fit | None:
    """The caching pass's largest encoder in fp8 (the doc's remedy for small cards)."""
    arg = ctx.text_encoder_fp8_arg
    if arg is None or _on(value(arg)) or _on(value(ctx.text_encoder_cpu_arg or "")):
        return None
    step = f"text encoder loaded in fp8 ({arg}) for the caching pass"
    return Fit({arg: (True, _why(step, ctx))}, steps=(step,))


def text_encoder_on_cpu(value: Lookup, ctx: FitContext) -> Fit | None:
    """Captions encoded on the CPU (slow) and kept on disk so it happens once."""
    arg = ctx.text_encoder_cpu_arg
    if arg is None or _on(value(arg)):
        return None
    step = f"captions encoded on the CPU ({arg}), outputs cached to disk"
    why = _why(step, ctx)
    changes: dict[str, tuple[Any, str]] = {arg: (True, why), "cache_text_encoder_outputs_to_disk": (True, why)}
    if ctx.text_encoder_fp8_arg and _on(value(ctx.text_encoder_fp8_arg)):
        changes[ctx.text_encoder_fp8_arg] = (None, f"{why}: the CPU encodes in bf16")
    return Fit(changes, steps=(step,))


LADDER: tuple[Callable[[Lookup, FitContext], Fit | None], ...] = (
    cache_text_encoders, gradient_checkpointing, latents_to_disk, eight_bit_optimizer,
    lower_rank, lower_rank, fp8_base, swap_blocks, swap_blocks, swap_blocks, swap_blocks,
    lower_resolution, lower_resolution,
)  # fmt: skip
# A diffusion transformer's weights dwarf its LoRA: fp8 and block swapping (the sd-scripts docs'
# own advice) come before a lower rank.
DIT_LADDER: tuple[Callable[[Lookup, FitContext], Fit | None], ...] = (
    fp8_text_encoder, text_encoder_on_cpu, gradient_checkpointing, latents_to_disk, eight_bit_optimizer, fp8_base,
    swap_blocks, swap_blocks, swap_blocks, swap_blocks, lower_rank, lower_rank, lower_resolution, lower_resolution,
)  # fmt: skip


def fit_to_budget(
    decide: Callable[[Fit], Lookup | None],
    estimate: Callable[[Lookup], VramEstimate],
    ctx: FitContext,
) -> tuple[Fit, VramEstimate]:
    """Climb the ladder until the plan fits or no step helps. `decide` returns the plan's effective
    values for a Fit, or None when that plan would be refused."""
    fit = Fit()
    value = decide(fit)
    if value is None:
        return fit, estimate(lambda _key: None)
    current = estimate(value)
    for step in DIT_LADDER if ctx.max_swap is not None else LADDER:
        if current.fits:
            break
        change = step(value, ctx)
        if change is None:
            continue
        trial = fit.plus(change)
        tried = decide(trial)
        if tried is None:
            continue
        after = estimate(tried)
        if _excess(after) < _excess(current) - 0.005:
            fit, value, current = trial, tried, after
    return _fit_ram(decide, estimate, ctx, fit, value, current)


def _excess(estimate: VramEstimate) -> float:
    """GB by which the phases over the fit line exceed it: a step is kept when it lowers this, so a
    remedy for one phase (the caching pass) counts while another phase still decides."""
    line = estimate.budget_gb - estimate.reserve_gb
    phases = estimate.phases or {"training": estimate.estimate_gb}
    return sum(max(0.0, gb - line) for gb in phases.values())


def _ram_gb(estimate: VramEstimate) -> float:
    return estimate.ram.estimate_gb if estimate.ram is not None else 0.0


def _ram_short(estimate: VramEstimate) -> bool:
    return estimate.ram is not None and not estimate.ram.fits


def latents_to_disk_for_ram(value: Lookup, ctx: FitContext) -> Fit | None:
    if _on(value("cache_latents_to_disk")) or not _on(value("cache_latents")):
        return None
    step = "latents cached to disk, not kept in RAM"
    return Fit({"cache_latents_to_disk": (True, _ram_why(step))}, steps=(step,))


def te_outputs_to_disk(value: Lookup, ctx: FitContext) -> Fit | None:
    if _on(value("cache_text_encoder_outputs_to_disk")) or not _on(value("cache_text_encoder_outputs")):
        return None
    step = "text-encoder outputs cached to disk, not kept in RAM"
    return Fit({"cache_text_encoder_outputs_to_disk": (True, _ram_why(step))}, steps=(step,))


def fewer_workers(value: Lookup, ctx: FitContext) -> Fit | None:
    workers = value("max_data_loader_n_workers")
    if not isinstance(workers, int) or isinstance(workers, bool) or workers <= 0:
        return None
    step = f"{workers - 1} data-loader workers instead of {workers}"
    changes: dict[str, tuple[Any, str]] = {"max_data_loader_n_workers": (workers - 1, _ram_why(step))}
    if workers == 1:
        changes["persistent_data_loader_workers"] = (None, _ram_why("no loader workers to keep"))
    return Fit(changes, steps=(step,))


def fewer_swapped_blocks(value: Lookup, ctx: FitContext) -> Fit | None:
    current = value("blocks_to_swap")
    if not isinstance(current, int) or isinstance(current, bool) or current <= 0:
        return None
    fewer = max(0, current - max(4, current // 4))
    step = f"{fewer} blocks swapped to the CPU instead of {current}"
    return Fit({"blocks_to_swap": (fewer or None, _ram_why(step))}, steps=(step,))


def _ram_why(step: str) -> str:
    return f"{step} to fit the machine's RAM"


RAM_LADDER: tuple[Callable[[Lookup, FitContext], Fit | None], ...] = (
    latents_to_disk_for_ram, te_outputs_to_disk, fewer_workers, fewer_workers,
    fewer_swapped_blocks, fewer_swapped_blocks, fewer_swapped_blocks, fewer_swapped_blocks,
)  # fmt: skip


def _fit_ram(
    decide: Callable[[Fit], Lookup | None], estimate: Callable[[Lookup], VramEstimate], ctx: FitContext,
    fit: Fit, value: Lookup, current: VramEstimate,
) -> tuple[Fit, VramEstimate]:  # fmt: skip
    """System memory's own ladder, once the card is settled: a step is kept when it lowers the RAM
    figure and the card still fits (or is no worse than before)."""
    for step in RAM_LADDER:
        if not _ram_short(current):
            break
        change = step(value, ctx)
        if change is None:
            continue
        trial = fit.plus(change)
        tried = decide(trial)
        if tried is None:
            continue
        after = estimate(tried)
        vram_ok = after.fits or after.estimate_gb <= current.estimate_gb + 0.005
        if _ram_gb(after) < _ram_gb(current) - 0.005 and vram_ok:
            fit, value, current = trial, tried, after
    return fit, current


def smallest_budget(estimate_gb: float) -> int:
    """The smallest whole number of GB the estimate fits in."""
    whole = int(estimate_gb)
    return whole if whole >= estimate_gb else whole + 1
