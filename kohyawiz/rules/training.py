"""Optimizer, precision, memory and loss settings (guide part 4)."""

from __future__ import annotations

from kohyawiz.rules.context import Context, rule
from kohyawiz.values import ADAM_LEARNING_RATE, ADAPTIVE_ARGS

OPTIMIZER_NAMES = {"prodigy": "Prodigy", "dadaptadam": "DAdaptAdam", "adamw": "AdamW", "adamw8bit": "AdamW8bit"}
IA3_LEARNING_RATE = 5e-3


@rule("T-OPT")
def optimizer(ctx: Context) -> None:
    d, choice = ctx.decider, ctx.optimizer
    name = OPTIMIZER_NAMES[choice]
    why = {
        "prodigy": "Prodigy, the guide's default: adaptive and easy",
        "dadaptadam": "DAdaptAdam, the gentler adaptive optimizer",
        "adamw": "AdamW, for experts who tune the learning rate",
        "adamw8bit": "AdamW8bit, AdamW in less memory",
    }[choice]
    if ctx.fit_optimizer and ctx.fit_optimizer != (ctx.answers.optimizer or ctx.recommended_optimizer):
        answered = OPTIMIZER_NAMES[ctx.answers.optimizer or ctx.recommended_optimizer]
        d.set("optimizer_type", name, "K-VRAM", f"{name} keeps less state than {answered}: it fits the card")
    else:
        d.set("optimizer_type", name, "T-OPT", why)
    if ctx.adaptive:
        d.set("learning_rate", 1.0, "T-OPT", "adaptive optimizers find the step size themselves: lr 1")
        d.set("lr_scheduler", "cosine", "T-OPT", "cosine with an adaptive optimizer")
        d.set("optimizer_args", list(ADAPTIVE_ARGS), "T-OPT", "decoupled weight decay 0.1, betas 0.9/0.99")
        return
    if ctx.algo == "ia3":
        d.set("learning_rate", IA3_LEARNING_RATE, "L-IA3", "iA3 needs a high learning rate (5e-3 to 1e-2)")
    else:
        d.set("learning_rate", ADAM_LEARNING_RATE, "T-OPT", "1e-4, the usual LoRA learning rate for Adam")
    d.set("lr_scheduler", "cosine_with_restarts", "T-OPT", "cosine with restarts suits Adam")
    d.omit("optimizer_args", "T-OPT", "Adam takes no extra optimizer arguments")


@rule("T-PRECISION")
def precision(ctx: Context) -> None:
    d = ctx.decider
    chosen = ctx.answers.precision or ctx.spec.precision or "fp16"
    why = "fp16 keeps more detail for complex designs" if chosen == "fp16" else "bf16 trains faster"
    rule_id = "T-PRECISION"
    if ctx.answers.precision is None and ctx.spec.precision:
        rule_id, why = "F-PRECISION", f"sd-scripts {ctx.spec.doc} asks for {chosen}"
    mixed = d.set("mixed_precision", chosen, rule_id, why)
    if ctx.family == "hunyuan-image" and mixed == "fp16":
        d.warn("F-PRECISION", "fp16 on HunyuanImage-2.1: its trainer warns that bf16 is recommended")
    d.set(
        "save_precision", mixed if mixed in ("fp16", "bf16") else "fp16", "T-PRECISION", "the same as mixed_precision"
    )
    if ctx.family == "sdxl" and mixed == "fp16":
        d.set("no_half_vae", True, "T-PRECISION", "the SDXL VAE overflows in fp16")
    for full in ("full_fp16", "full_bf16"):
        d.omit(full, "T-PRECISION", "full half precision trains worse; mixed precision instead")
    if ctx.interface.arg(ctx.script, "fp8_base") is not None:
        d.omit("fp8_base", "T-PRECISION", "the base model keeps its half-precision weights")


@rule("T-CACHE")
def cache(ctx: Context) -> None:
    d = ctx.decider
    d.set("cache_latents", True, "T-CACHE", "latents computed once, not every step")
    if ctx.tier == "low":
        d.set("cache_latents_to_disk", True, "T-CACHE", f"{ctx.answers.vram_gb:g} GB is short: keep latents on disk")
    else:
        d.omit("cache_latents_to_disk", "T-CACHE", f"{ctx.answers.vram_gb:g} GB is enough to keep latents in memory")
    if ctx.family == "sdxl" and ctx.tier == "low":
        d.set(
            "cache_text_encoder_outputs",
            True,
            "T-CACHE",
            "SDXL on a small card: encode captions once and drop the text encoders from memory",
        )
        d.set(
            "network_train_unet_only",
            True,
            "T-CACHE",
            "cached text-encoder outputs leave only the UNet to train",
        )
    elif ctx.family == "sdxl":
        d.omit("cache_text_encoder_outputs", "T-CACHE", "enough VRAM to keep the text encoders and train them")
        d.omit("network_train_unet_only", "T-CACHE", "the text encoders train too")


@rule("T-GRADCKPT")
def gradient_checkpointing(ctx: Context) -> None:
    if ctx.dit:
        return  # F-GRADCKPT
    d = ctx.decider
    if not ctx.adaptive:
        d.set("gradient_checkpointing", True, "T-GRADCKPT", "on with Adam optimizers")
    elif ctx.tier != "high" and (ctx.tier == "low" or ctx.family == "sdxl"):
        d.set("gradient_checkpointing", True, "T-GRADCKPT", "VRAM is short: trade speed for memory")
    else:
        d.omit("gradient_checkpointing", "T-GRADCKPT", "optional with Prodigy and enough VRAM")


@rule("T-LOADER")
def loader(ctx: Context) -> None:
    d = ctx.decider
    d.set("max_data_loader_n_workers", 2, "T-LOADER", "two loader workers keep the GPU fed")
    if ctx.tier == "low":
        d.omit("persistent_data_loader_workers", "T-LOADER", "memory is short: workers restart each epoch")
    else:
        d.set("persistent_data_loader_workers", True, "T-LOADER", "workers kept between epochs: faster")


@rule("T-XATTN")
def attention(ctx: Context) -> None:
    if ctx.dit:
        return  # F-ATTN
    d, choice = ctx.decider, ctx.answers.attention
    if choice == "xformers":
        d.set("xformers", True, "T-XATTN", "xformers is installed")
    elif choice == "sdpa":
        d.set("sdpa", True, "T-XATTN", "PyTorch's scaled-dot-product attention")
    else:
        d.set("sdpa", True, "T-XATTN", "xformers is not known to be installed; sdpa works with every torch 2")


@rule("T-SNR")
def snr(ctx: Context) -> None:
    if ctx.dit:
        return  # F-LOSS
    d = ctx.decider
    d.set("min_snr_gamma", 5.0, "T-SNR", "min SNR gamma 5 is a known good value")
    d.omit("noise_offset", "T-SNR", "noise offset 0 (the GUI's type Original; sd-scripts has no such argument)")
    d.set("debiased_estimation_loss", True, "T-SNR", "helps colour deviation")


@rule("D-CAPTION")
def captions(ctx: Context) -> None:
    ctx.decider.set(
        "caption_extension",
        ".txt",
        "D-CAPTION",
        "captions are .txt files beside the images (sd-scripts' default is .caption)",
    )


@rule("T-FLIP")
def flip(ctx: Context) -> None:
    d = ctx.decider
    smallest = min(c.images for c in ctx.concepts)
    if ctx.answers.asymmetric:
        value = d.set("flip_aug", False, "D-ASYM", "asymmetric details must not be mirrored")
    elif smallest < 30:
        value = d.set("flip_aug", True, "T-FLIP", f"{smallest} images: mirroring doubles a small dataset")
    else:
        value = d.set("flip_aug", False, "T-FLIP", f"{smallest} images are enough without mirroring")
    if value is True and ctx.answers.multi_concept:
        d.warn("T-FLIP", "flip_aug mirrors every concept's images, not just one")
    if value is True and ctx.answers.asymmetric:
        d.warn("D-ASYM", "flip_aug is on for a subject with asymmetric details: they will be mirrored")


@rule("D-ASYM")
def asymmetric(ctx: Context) -> None:
    if ctx.answers.asymmetric:
        ctx.decider.info("D-ASYM", "asymmetric details: make every image face the same way (flip the odd ones)")
