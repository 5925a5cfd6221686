"""Precision and model-family flags (train_network.py, library/train_util.py,
library/sdxl_train_util.py)."""

from __future__ import annotations

from kohyawiz.constraints.base import Checker, constraint


@constraint("C-FULL-HALF", "train_network.py", "full_fp16 needs mixed_precision fp16, full_bf16 needs bf16")
def full_half_matches_mixed(c: Checker) -> None:
    for full, needed in (("full_fp16", "fp16"), ("full_bf16", "bf16")):
        if not c.on(full) or c.value("mixed_precision") == needed:
            continue
        moved = c.resolve("C-FULL-HALF", f"{full} needs mixed_precision {needed}", [("mixed_precision", needed)],
                          stops=True, fix=f"set mixed_precision={needed}")  # fmt: skip
        if moved and not c.explicit("save_precision"):
            c.give_way("save_precision", needed, "C-FULL-HALF", f"saved like it trains with {full}")

@constraint("C-FP8", "train_network.py", "fp8_base / fp8_base_unet need mixed precision (fp16 or bf16)")
def fp8_needs_mixed_precision(c: Checker) -> None:
    if (c.on("fp8_base") or c.on("fp8_base_unet")) and c.value("mixed_precision", "no") == "no":
        c.resolve("C-FP8", "fp8_base needs mixed_precision fp16 or bf16", [("mixed_precision", "bf16")],
                  stops=True, fix="set mixed_precision=bf16 or fp16")  # fmt: skip


@constraint("C-SDXL-V2", "library/sdxl_train_util.py verify_sdxl_training_args", "v2 is refused for SDXL")
def sdxl_is_not_v2(c: Checker) -> None:
    if c.sdxl and c.on("v2"):
        c.resolve("C-SDXL-V2", "v2 is set for an SDXL model", [("v2", None)], stops=True, fix="drop v2")


@constraint("C-CLIPSKIP", "library/train_util.py verify_training_args, library/sdxl_train_util.py",
            "clip skip does nothing on SDXL and is unexpected with v2")  # fmt: skip
def clip_skip_where_it_works(c: Checker) -> None:
    skip = c.value("clip_skip")
    if skip is None:
        return
    if c.sdxl:
        c.resolve("C-CLIPSKIP", f"clip_skip {skip} does nothing when training SDXL", [("clip_skip", None)],
                  stops=False, fix="sd-scripts ignores it; drop it")  # fmt: skip
    elif c.on("v2"):
        c.resolve("C-CLIPSKIP", f"clip_skip {skip} with v2 gives unexpected results in sd-scripts",
                  [("clip_skip", None)], stops=False, fix="drop clip_skip for SD2.x models")  # fmt: skip


@constraint("C-VPRED", "library/train_util.py verify_training_args",
            "v-prediction loss options need (or exclude) v_parameterization; zSNR without it is unexpected")  # fmt: skip
def v_prediction_options(c: Checker) -> None:
    vpred = c.on("v_parameterization")
    if c.on("scale_v_pred_loss_like_noise_pred") and not vpred:
        c.resolve("C-VPRED", "scale_v_pred_loss_like_noise_pred needs v_parameterization",
                  [("scale_v_pred_loss_like_noise_pred", None)], stops=True,
                  fix="drop scale_v_pred_loss_like_noise_pred, or give --vpred for a v-prediction model")  # fmt: skip
    if c.on("v_pred_like_loss") and vpred:
        c.resolve("C-VPRED", "v_pred_like_loss cannot be used with v_parameterization",
                  [("v_pred_like_loss", None)], stops=True, fix="drop v_pred_like_loss")  # fmt: skip
    if c.on("zero_terminal_snr") and not vpred and c.explicit("zero_terminal_snr"):
        c.warn("C-VPRED", "zero_terminal_snr without v_parameterization: sd-scripts warns the result will be "
                          "unexpected; use it with v-prediction models (--vpred)")  # fmt: skip


@constraint("C-NOISE", "library/train_util.py verify_training_args", "adaptive_noise_scale needs noise_offset")
def adaptive_noise_needs_offset(c: Checker) -> None:
    if c.value("adaptive_noise_scale") is not None and c.value("noise_offset") is None:
        c.refuse("C-NOISE", "adaptive_noise_scale is set without noise_offset", "set noise_offset too, or drop it")


@constraint("C-ATTENTION", "library/train_util.py replace_unet_modules",
            "of mem_eff_attn, xformers and sdpa only the first that is on takes effect")  # fmt: skip
def one_attention_kernel(c: Checker) -> None:
    on = [k for k in ("mem_eff_attn", "xformers", "sdpa") if c.on(k)]
    if len(on) < 2:
        return
    chosen = next((k for k in on if c.explicit(k)), None)
    for key in on:
        if key != (chosen or on[0]) and not c.explicit(key):
            c.give_way(key, None, "C-ATTENTION", f"{chosen or on[0]} is the attention kernel")
    still = [k for k in ("mem_eff_attn", "xformers", "sdpa") if c.on(k)]
    if len(still) > 1:
        c.warn("C-ATTENTION", f"{', '.join(still)} are all on: sd-scripts uses {still[0]} and ignores the rest")
