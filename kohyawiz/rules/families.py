"""Rules for the diffusion transformers sd-scripts trains (Flux.1, Chroma, SD3, Lumina 2, Anima,
HunyuanImage-2.1). The guide is silent on them: each rule follows the trainer's own document in
sd-scripts (named by FamilySpec.doc) and its code. The guide's family-independent rules (passes,
checkpoints, batch, dataset, multi-concept balancing) still apply to every family."""

from __future__ import annotations

from typing import Any

from kohyawiz.families import DocRecipe, FamilySpec, Setting, swap_max, trainable_networks
from kohyawiz.rules.context import Context, rule
from kohyawiz.rules.network import KNOWN_SUBJECT_RANK, warn_rank
from kohyawiz.rules.training import OPTIMIZER_NAMES

# Arguments only Stable Diffusion's UNet training reads; the DiT trainers ignore them.
SD_ONLY = ("v2", "v_parameterization", "clip_skip", "zero_terminal_snr", "max_token_length")
# The flow-matching trainers' post_process_loss returns the loss unchanged, and their noise is
# their own: these would be silently ignored.
SD_LOSS = ("min_snr_gamma", "debiased_estimation_loss", "noise_offset", "scale_v_pred_loss_like_noise_pred")

# id -> (sd-scripts document, what the rule decides): kohyawiz's own ids beside the guide's.
FAMILY_RULES: dict[str, tuple[str, str]] = {
    "F-TRAINER": ("docs/*_train_network.md", "each family trains with its own trainer (Chroma: --model_type chroma); SD-only arguments are left out"),
    "F-COMPANION": ("docs/*_train_network.md", "the text encoders and VAE a family needs, given with --set ARG=PATH or found beside the model"),
    "F-MODULE": ("docs/*_train_network.md", "the family's own LoRA module (networks.lora_flux, lora_sd3, lora_lumina, lora_anima, lora_hunyuan_image)"),
    "F-FLOW": ("docs/*_train_network.md", "timestep sampling, model prediction type and discrete flow shift as each doc recommends"),
    "F-GUIDANCE": ("docs/flux_train_network.md", "guidance scale 1.0 for Flux.1 dev, 0.0 for Chroma"),
    "F-MASK": ("docs/flux_train_network.md", "Chroma needs the T5 attention mask"),
    "F-RES": ("docs/*_train_network.md", "the family's native resolution (HunyuanImage 2048, the others 1024); only the memory ladder (K-VRAM) lowers it"),
    "F-PRECISION": ("docs/lumina_train_network.md, anima_train_network.md, hunyuan_image_train_network.md", "bf16 where the doc asks for it"),
    "F-TECACHE": ("docs/*_train_network.md", "text-encoder outputs cached and the DiT trained alone; HunyuanImage requires it"),
    "F-GRADCKPT": ("docs/*_train_network.md", "gradient checkpointing on, as every doc's example"),
    "F-FP8": ("docs/flux_train_network.md, hunyuan_image_train_network.md", "fp8 base weights (HunyuanImage: fp8_scaled) on cards the doc's table names; none for Anima"),
    "F-SWAP": ("docs/flux_train_network.md, hunyuan_image_train_network.md", "transformer blocks swapped to the CPU by VRAM, from the doc's table"),
    "F-ATTN": ("docs/*_train_network.md", "the attention each trainer uses: sdpa (Flux, SD3), its own (Lumina), attn_mode (Anima, HunyuanImage)"),
    "F-LOSS": ("flux_train_network.py post_process_loss", "min SNR gamma, debiased estimation and noise offset are SD-only: left out"),
    "F-OPT": ("docs/*_train_network.md, 4. Running the Training", "the doc's optimizer (AdamW8bit; Lumina: AdamW) and constant scheduler, unless you choose one"),
    "F-RANK": ("docs/*_train_network.md, 4. Running the Training", "the doc's rank and alpha (Flux, SD3, HunyuanImage 16/1; Lumina 8/8; Anima 8/1); a lower rank lowers alpha with it; alpha 1 with an adaptive optimizer"),
    "F-LR": ("docs/*_train_network.md, 4. Running the Training", "the doc's 1e-4 with an Adam-type optimizer, lowered when alpha/rank is above the doc's, so no step is hotter than the doc's; a hotter one set by hand is warned"),
    "F-PROMPTS": ("docs/*_train_network.md", "sample prompts in the trainer's own options; Lumina's system prompt"),
    "F-VAE": ("docs/anima_train_network.md", "the Qwen-Image VAE chunked and uncached to save memory"),
}


def _doc(spec: FamilySpec) -> str:
    return f"sd-scripts {spec.doc}"


@rule("F-TRAINER")
def trainer(ctx: Context) -> None:
    if not ctx.dit:
        return
    d, spec = ctx.decider, ctx.spec
    d.record_plan("script", spec.script, "F-TRAINER", f"{spec.label} LoRAs train with {spec.script} ({_doc(spec)})")
    if spec.model_type:
        d.set("model_type", spec.model_type, "F-TRAINER", f"{spec.script} trains {spec.label} with --model_type {spec.model_type}")
    elif ctx.interface.arg(spec.script, "model_type") is not None:
        d.omit("model_type", "F-TRAINER", f"{spec.label} is the trainer's default model type")
    for key in SD_ONLY:
        if ctx.interface.arg(spec.script, key) is not None:
            chosen = d.omit(key, "F-TRAINER", f"a Stable Diffusion argument {spec.script} does not use")
            if chosen not in (None, False):
                d.warn("F-TRAINER", f"{key} is set, but {spec.script} does not use it ({_doc(spec)})")
    model = ctx.answers.model
    if model.vpred or model.zsnr or model.clip_skip is not None:
        d.info("F-TRAINER", f"v-prediction, zSNR and clip skip answers do not apply to {spec.label}: ignored")


@rule("F-COMPANION")
def companions(ctx: Context) -> None:
    spec, d = ctx.spec, ctx.decider
    for found in ctx.companions:
        arg, what = found.companion.arg, found.companion.what
        if found.how == "given":
            d.set(arg, str(d.overrides[arg][0]), "F-COMPANION", what)
            if not found.exists:
                d.warn("F-COMPANION", f"{arg}: {found.path} does not exist here (as a file); the run stops unless it exists where it trains")
        elif found.how == "blank":
            d.error("F-COMPANION", f"{arg} is set to an empty path: pass --set {arg}=PATH to {what}")
        elif found.how == "held":
            d.omit(arg, "F-COMPANION", f"the checkpoint holds {what}")
        elif found.how == "found" and found.path is not None:
            d.set(arg, str(found.path), "F-COMPANION", f"{what}, found at {found.path.name} near the model")
        else:
            where = ("none found beside the model or in its text_encoders, clip or vae folders" if found.path
                     else "no model given to look beside")  # fmt: skip
            d.error("F-COMPANION", f"{spec.script} needs {arg} ({what}): {where}; pass --set {arg}=PATH")


@rule("F-MODULE")
def module(ctx: Context) -> None:
    if not ctx.dit:
        return
    d, spec = ctx.decider, ctx.spec
    if ctx.algo not in trainable_networks(spec.id):
        d.error("F-MODULE", f"{ctx.algo} is not planned for {spec.label}: kohyawiz trains its LoRA with "
                f"{spec.network_module} ({_doc(spec)}); choose the network lora (--network lora)")  # fmt: skip
        return
    chosen = d.set("network_module", spec.network_module, "F-MODULE", f"{spec.label}'s own LoRA module ({_doc(spec)})")
    if chosen != spec.network_module:  # another module finds none of this transformer's layers
        d.error("F-MODULE", f"network_module {chosen} cannot train {spec.label}: {spec.script} needs "
                f"{spec.network_module}; drop the override")  # fmt: skip
    d.omit("network_args", "F-MODULE", "every layer the module targets by default")


@rule("F-FLOW")
def flow(ctx: Context) -> None:
    _apply(ctx, ctx.spec.flow)


def _apply(ctx: Context, settings: tuple[Setting, ...], only: str | None = None) -> None:
    """The doc's settings for the family (those of rule `only`, when given), each under its rule."""
    spec = ctx.spec
    for setting in settings:
        if (only is None or setting.rule == only) and ctx.interface.arg(spec.script, setting.key) is not None:
            ctx.decider.set(setting.key, setting.value, setting.rule, f"{setting.why} ({_doc(spec)})")


@rule("F-TECACHE")
def text_encoder_cache(ctx: Context) -> None:
    if not ctx.dit:
        return
    d, spec = ctx.decider, ctx.spec
    d.set("cache_text_encoder_outputs", True, "F-TECACHE",
          "captions are encoded once and the large text encoders leave the GPU, as the doc's example does")  # fmt: skip
    if ctx.tier == "low":
        d.set("cache_text_encoder_outputs_to_disk", True, "F-TECACHE", "memory is short: encoded captions kept on disk")
    else:
        d.omit("cache_text_encoder_outputs_to_disk", "F-TECACHE", "encoded captions kept in memory")
    why = ("the trainer cannot train its text encoders; the doc requires it" if not spec.text_encoder_trainable
           else "with cached outputs only the DiT trains")  # fmt: skip
    d.set("network_train_unet_only", True, "F-TECACHE", why)


@rule("F-GRADCKPT")
def gradient_checkpointing(ctx: Context) -> None:
    if ctx.dit:
        ctx.decider.set("gradient_checkpointing", True, "F-GRADCKPT",
                        f"a large transformer: every example in {_doc(ctx.spec)} checkpoints")  # fmt: skip


def _table_row(spec: FamilySpec, vram_gb: float) -> tuple[float, int, bool] | None:
    return next((row for row in spec.swap_table if vram_gb <= row[0]), None)


@rule("F-FP8")
def fp8(ctx: Context) -> None:
    if not ctx.dit:
        return
    d, spec = ctx.decider, ctx.spec
    row = _table_row(spec, ctx.answers.vram_gb)
    if spec.fp8_arg is None:
        if ctx.interface.arg(spec.script, "fp8_base") is not None:
            d.omit("fp8_base", "F-FP8", f"{spec.script} does not support fp8 base weights")
        return
    if row is not None and row[2]:
        d.set(spec.fp8_arg, True, "F-FP8", f"{ctx.answers.vram_gb:g} GB: the doc's table stores the DiT in fp8")
    elif spec.swap_table:
        d.omit(spec.fp8_arg, "F-FP8", f"{ctx.answers.vram_gb:g} GB holds the DiT in {ctx.answers.precision or spec.precision or 'half'} precision")
    else:
        d.omit(spec.fp8_arg, "F-FP8", "the memory model turns it on only if the plan does not fit (K-VRAM)")


@rule("F-SWAP")
def block_swap(ctx: Context) -> None:
    if not ctx.dit or ctx.spec.max_swap is None:
        return
    d, spec = ctx.decider, ctx.spec
    row = _table_row(spec, ctx.answers.vram_gb)
    limit = swap_max(spec, ctx.answers.model.blocks)
    if row is not None and row[1] > 0:
        blocks = min(row[1], limit or row[1])
        d.set("blocks_to_swap", blocks, "F-SWAP",
              f"{ctx.answers.vram_gb:g} GB: the doc's table swaps {row[1]} blocks to the CPU (slower, fits)")  # fmt: skip
    else:
        d.omit("blocks_to_swap", "F-SWAP", "no block swapping unless the memory model needs it (K-VRAM)")


@rule("F-ATTN")
def attention(ctx: Context) -> None:
    if not ctx.dit:
        return
    d, spec, choice = ctx.decider, ctx.spec, ctx.answers.attention
    if spec.attention == "sdpa":
        d.set("sdpa", True, "F-ATTN", f"PyTorch's scaled-dot-product attention, as the doc's example ({_doc(spec)})")
        d.omit("xformers", "F-ATTN", "sdpa is the attention kernel")
        return
    d.omit("sdpa", "F-ATTN", f"{spec.script} picks its attention itself")
    d.omit("xformers", "F-ATTN", f"{spec.script} picks its attention itself")
    if spec.attention == "attn_mode" and choice == "xformers":
        d.set("attn_mode", "xformers", "F-ATTN", "xformers, as you chose")
        d.set("split_attn", True, "F-ATTN", "xformers attention needs split_attn")
    elif spec.attention == "attn_mode":
        d.omit("attn_mode", "F-ATTN", "PyTorch attention (the trainer's default, torch)")


@rule("F-LOSS")
def loss(ctx: Context) -> None:
    if not ctx.dit:
        return
    d = ctx.decider
    for key in SD_LOSS:
        if ctx.interface.arg(ctx.script, key) is None:
            continue
        chosen = d.omit(key, "F-LOSS", f"{ctx.script} ignores it: flow matching has its own loss weighting")
        if chosen not in (None, False):
            d.warn("F-LOSS", f"{key} is set, but {ctx.script} ignores it (its post_process_loss leaves the loss as is)")


def paired_alpha(recipe: DocRecipe, dim: int) -> float:
    """The doc's alpha at the doc's rank or above; below it, scaled with the rank so alpha / rank (the
    factor LoRA scales its output by) is never above the doc's."""
    return recipe.alpha * min(1.0, dim / recipe.dim)


def paired_lr(recipe: DocRecipe, alpha: float, dim: int) -> float:
    """The doc's learning rate, lowered where alpha / rank or alpha is above the doc's, so that
    neither lr x alpha / rank nor lr x alpha is above the doc's own figures."""
    if alpha <= 0 or dim <= 0:
        return recipe.lr
    return recipe.lr * min(1.0, (recipe.alpha / recipe.dim) / (alpha / dim), recipe.alpha / alpha)


def steps_hotter(recipe: DocRecipe, lr: float, alpha: float, dim: int) -> bool:
    """lr, lr x alpha or lr x alpha / rank above the doc's (a rounding's width allowed)."""
    doc = (recipe.lr, recipe.lr * recipe.alpha, recipe.lr * recipe.alpha / recipe.dim)
    plan = (lr, lr * alpha, lr * alpha / dim)
    return any(mine > theirs * (1 + 1e-6) for mine, theirs in zip(plan, doc, strict=True))


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


@rule("F-OPT")
def optimizer(ctx: Context) -> None:
    recipe = ctx.spec.recipe
    if not ctx.dit or recipe is None:
        return
    d = ctx.decider
    if ctx.answers.optimizer is None and ctx.fit_optimizer in (None, recipe.optimizer):
        name = OPTIMIZER_NAMES[recipe.optimizer]
        d.set("optimizer_type", name, "F-OPT", f"{name}, as sd-scripts {recipe.where}")
    if not ctx.adaptive:
        d.set("lr_scheduler", recipe.scheduler, "F-OPT", f"{recipe.scheduler}, as sd-scripts {recipe.where}")


@rule("F-RANK")
def rank(ctx: Context) -> None:
    recipe = ctx.spec.recipe
    if not ctx.dit or recipe is None or ctx.algo != "lora":
        return
    d = ctx.decider
    dim, why = recipe.dim, f"rank {recipe.dim}, as sd-scripts {recipe.where}"
    if ctx.answers.model.knows_subject and not ctx.answers.multi_concept and recipe.dim > KNOWN_SUBJECT_RANK:
        dim, why = KNOWN_SUBJECT_RANK, (f"{KNOWN_SUBJECT_RANK}: the model already knows something close (the guide's "
                                        f"T-RANK, where the doc is silent; its example trains rank {recipe.dim})")  # fmt: skip
    chosen = d.set("network_dim", dim, "F-RANK", why)
    dim = int(chosen) if _number(chosen) else recipe.dim
    if ctx.adaptive:
        d.set("network_alpha", 1.0, "F-RANK", f"alpha 1 with an adaptive optimizer (the guide's T-RANK; the doc "
              f"trains with {OPTIMIZER_NAMES[recipe.optimizer]})")  # fmt: skip
    else:
        alpha = paired_alpha(recipe, dim)
        why = (f"alpha {alpha:g}, as sd-scripts {recipe.where}" if alpha == recipe.alpha
               else f"alpha {alpha:g}: the doc's {recipe.alpha:g} at rank {recipe.dim}, scaled to rank {dim} so "
                    f"alpha / rank stays the doc's ({recipe.where})")  # fmt: skip
        d.set("network_alpha", alpha, "F-RANK", why)
    warn_rank(ctx, chosen)


@rule("F-LR")
def learning_rate(ctx: Context) -> None:
    recipe = ctx.spec.recipe
    if not ctx.dit or recipe is None or ctx.adaptive or ctx.algo != "lora":
        return
    d = ctx.decider
    dim, alpha = _number(d.get("network_dim")), _number(d.get("network_alpha"))
    if not dim or alpha is None:
        return
    lr = paired_lr(recipe, alpha, int(dim))
    why = (f"{lr:g}, as sd-scripts {recipe.where}" if lr == recipe.lr
           else f"{lr:.3g}: the doc's {recipe.lr:g} is for rank {recipe.dim} / alpha {recipe.alpha:g}; at rank "
                f"{dim:g} / alpha {alpha:g} it is lowered so no step is hotter than the doc's ({recipe.where})")  # fmt: skip
    chosen = d.set("learning_rate", lr, "F-LR", why)
    for key in ("learning_rate", "unet_lr"):
        value = _number(chosen if key == "learning_rate" else d.get(key))
        if value is not None and steps_hotter(recipe, value, alpha, int(dim)):
            d.warn("F-LR", f"{key} {value:g} at rank {dim:g} / alpha {alpha:g} steps hotter than sd-scripts "
                   f"{recipe.where} (rank {recipe.dim}, alpha {recipe.alpha:g}, lr {recipe.lr:g}): "
                   f"{lr:.3g} keeps the doc's step")  # fmt: skip


@rule("F-PROMPTS")
def prompts(ctx: Context) -> None:
    if not ctx.dit:
        return
    d, spec = ctx.decider, ctx.spec
    _apply(ctx, spec.extra, "F-PROMPTS")
    if ctx.answers.samples:
        d.omit("sample_sampler", "F-PROMPTS", f"{spec.script} samples with its own flow-matching sampler")


@rule("F-VAE")
def vae(ctx: Context) -> None:
    _apply(ctx, ctx.spec.extra, "F-VAE")
