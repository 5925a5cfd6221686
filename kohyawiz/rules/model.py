"""Rules about the base model and the file format (guide parts 3, 4 and 5)."""

from __future__ import annotations

from kohyawiz.rules.context import Context, rule
from kohyawiz.values import parse_resolution

# The most each ancestry generates well (guide part 4; finetunes of SD1.5 commonly reach 768) is
# its FamilySpec.resolution, as is the default; weak cards get FamilySpec.weak_resolution (SD only).


@rule("T-BASE")
def base_model(ctx: Context) -> None:
    model = ctx.answers.model
    if model.path:
        ctx.decider.set("pretrained_model_name_or_path", model.path, "T-BASE", "the base model you chose")
    else:
        ctx.decider.warn("T-BASE", "no base model given yet: pass --model before training")
    if model.merge:
        ctx.decider.warn(
            "T-BASE",
            "the model is a merge: a LoRA trained on a merge works worse on other models; "
            "prefer a base model or a finetune (guide part 3)",
        )


@rule("T-FAMILY")
def model_family(ctx: Context) -> None:
    if ctx.dit:
        return  # F-TRAINER
    d, model = ctx.decider, ctx.answers.model
    d.record_plan("script", ctx.script, "T-FAMILY", f"{ctx.family} models train with {ctx.script}")
    if ctx.family == "sd2":
        d.set("v2", True, "T-FAMILY", "SD2.x ancestry")
    else:
        d.omit("v2", "T-FAMILY", f"not an SD2.x model ({ctx.family})")
    if model.vpred:
        d.set("v_parameterization", True, "T-FAMILY", "the model predicts v")
    else:
        d.omit("v_parameterization", "T-FAMILY", "the model predicts noise (epsilon)")


@rule("T-CLIPSKIP")
def clip_skip(ctx: Context) -> None:
    if ctx.dit:
        return  # F-TRAINER leaves it out
    d, model = ctx.decider, ctx.answers.model
    if ctx.family == "sdxl":
        d.omit("clip_skip", "T-CLIPSKIP", "SDXL training takes no clip skip")
        return
    if model.clip_skip is not None:
        d.set("clip_skip", model.clip_skip, "T-CLIPSKIP", "the value the model's authors state")
        return
    if model.tags == "booru":
        d.set("clip_skip", 2, "T-CLIPSKIP", "anime (booru-tag) ancestry uses clip skip 2")
    elif ctx.family == "sd2":
        d.omit("clip_skip", "T-CLIPSKIP", "clip skip 1 on SD2.x; sd-scripts warns when v2 gets a clip skip")
    else:
        d.set("clip_skip", 1, "T-CLIPSKIP", f"{model.tags} ancestry uses clip skip 1")


@rule("T-ZSNR")
def zero_terminal_snr(ctx: Context) -> None:
    if ctx.dit:
        return  # F-TRAINER leaves it out
    d, model = ctx.decider, ctx.answers.model
    if model.zsnr:
        d.set("zero_terminal_snr", True, "T-ZSNR", "the model supports zero terminal SNR")
        if not model.vpred:
            d.warn(
                "T-ZSNR",
                "zero terminal SNR without v-prediction: sd-scripts warns about this pairing; "
                "check that the model really is epsilon-predicting",
            )
    else:
        d.omit("zero_terminal_snr", "T-ZSNR", "the model was not trained with zero terminal SNR")
    d.omit(
        "scale_v_pred_loss_like_noise_pred",
        "T-ZSNR",
        f"not needed by sd-scripts {ctx.interface.version}",
    )


@rule("T-RES")
def resolution(ctx: Context) -> None:
    d, model, spec = ctx.decider, ctx.answers.model, ctx.spec
    rule_id = "F-RES" if ctx.dit else "T-RES"
    # A DiT keeps its native resolution: only the memory ladder (K-VRAM) lowers it, and says so.
    short = ctx.tier == "low" and not ctx.dit
    base = spec.weak_resolution if short else spec.resolution
    native = model.native_resolution or spec.resolution
    size = min(base, native)
    size -= size % 64
    why = f"{size} for {spec.label}" + (" on a card short of memory" if short else "")
    if ctx.dit and spec.recipe:
        why += f" ({spec.recipe.resolution_where})"
    if size < base:
        why += f", capped at what the model generates natively ({native})"
    reso = d.set("resolution", f"{size},{size}", rule_id, why)
    width, height = parse_resolution(reso)
    d.set("enable_bucket", True, "T-RES", "buckets keep each image's aspect ratio")
    steps = d.set("bucket_reso_steps", 64, "T-RES", "sd-scripts' bucket step")
    d.set(
        "max_bucket_reso",
        max(width, height),
        "T-RES",
        "the largest bucket equals the training resolution",
    )
    smallest = min(width, height)
    d.set(
        "min_bucket_reso",
        min(256, smallest - smallest % steps),
        "T-RES",
        "sd-scripts' default smallest bucket side, never above the resolution",
    )
    if model.native_resolution and max(width, height) > model.native_resolution:
        d.warn("T-RES", f"training above the model's native {model.native_resolution} px gives worse results")


@rule("T-FORMAT")
def file_format(ctx: Context) -> None:
    if ctx.answers.save_as == "ckpt":
        ctx.decider.set("save_model_as", "ckpt", "T-FORMAT", "ckpt on explicit request")
    else:
        ctx.decider.set("save_model_as", "safetensors", "T-FORMAT", "safetensors is safe and standard")
