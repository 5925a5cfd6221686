"""The diffusion-transformer trainers' own checks (flux_train_network.py, sd3_train_network.py,
lumina_train_network.py, anima_train_network.py, hunyuan_image_train_network.py: their
assert_extra_args, load_target_model and post_process_network, and the models' enable_block_swap)."""

from __future__ import annotations

from kohyawiz.constraints.base import Checker, constraint

_OFFLOAD_FAMILIES = ("flux", "chroma", "sd3", "lumina", "anima", "hunyuan-image")


def _swap(c: Checker) -> int:
    return int(c.number("blocks_to_swap", 0))


@constraint("C-CHROMA-MASK", "flux_train_network.py assert_extra_args", "Chroma needs apply_t5_attn_mask")
def chroma_needs_t5_mask(c: Checker) -> None:
    if c.value("model_type") == "chroma" and not c.on("apply_t5_attn_mask"):
        c.resolve("C-CHROMA-MASK", "Chroma is trained without apply_t5_attn_mask", [("apply_t5_attn_mask", True)],
                  stops=True, fix="set apply_t5_attn_mask=true")  # fmt: skip


@constraint("C-SWAP-OFFLOAD", "flux / sd3 / anima _train_network.py assert_extra_args",
            "blocks_to_swap cannot be combined with cpu_offload_checkpointing (or Anima's unsloth offloading)")  # fmt: skip
def swap_excludes_offload(c: Checker) -> None:
    if c.family not in _OFFLOAD_FAMILIES or _swap(c) <= 0:
        return
    for offload in ("cpu_offload_checkpointing", "unsloth_offload_checkpointing"):
        if c.on(offload):
            c.resolve("C-SWAP-OFFLOAD", f"blocks_to_swap {_swap(c)} is set with {offload}",
                      [(offload, None), ("blocks_to_swap", None)], stops=True,
                      fix=f"drop {offload} or blocks_to_swap")  # fmt: skip


@constraint("C-SWAP-MAX", "library/flux_models.py, sd3_models.py, lumina_models.py, anima_models.py, "
            "hunyuan_image_models.py enable_block_swap", "blocks_to_swap stays below the model's block count")  # fmt: skip
def swap_within_the_model(c: Checker) -> None:
    if c.max_swap is None or _swap(c) <= c.max_swap:
        return
    c.resolve("C-SWAP-MAX", f"blocks_to_swap {_swap(c)} is more than this model can swap ({c.max_swap})",
              [("blocks_to_swap", c.max_swap)], stops=True, fix=f"set blocks_to_swap={c.max_swap} or fewer")  # fmt: skip


@constraint("C-T5-CACHE", "flux_train_network.py / sd3_train_network.py post_process_network",
            "a trained T5-XXL (network_args train_t5xxl=True) cannot have its outputs cached")  # fmt: skip
def trained_t5_is_not_cached(c: Checker) -> None:
    args = [str(a).replace(" ", "") for a in c.value("network_args") or []]
    if "train_t5xxl=True" not in args:
        return
    caching = [k for k in ("cache_text_encoder_outputs", "cache_text_encoder_outputs_to_disk") if c.on(k)]
    if not caching:
        return
    if c.on("network_train_unet_only"):
        c.warn("C-T5-CACHE", "train_t5xxl=True does nothing with network_train_unet_only")
        return
    c.resolve("C-T5-CACHE", "T5-XXL trains (train_t5xxl=True), so its outputs cannot be cached",
              [(k, None) for k in caching], stops=True, fix="drop cache_text_encoder_outputs or train_t5xxl")  # fmt: skip


@constraint("C-DIT-ONLY", "docs/hunyuan_image_train_network.md, hunyuan_image_train_network.py",
            "HunyuanImage-2.1 trains no text-encoder network: network_train_unet_only is required")  # fmt: skip
def hunyuan_trains_the_dit_only(c: Checker) -> None:
    if c.family == "hunyuan-image" and not c.on("network_train_unet_only"):
        c.resolve("C-DIT-ONLY", "HunyuanImage-2.1 cannot train text-encoder networks",
                  [("network_train_unet_only", True)], stops=True, fix="set network_train_unet_only=true")  # fmt: skip


@constraint("C-SPLIT-ATTN", "anima_train_network.py / hunyuan_image_train_network.py (attn_mode)",
            "attn_mode xformers needs split_attn")  # fmt: skip
def xformers_needs_split_attention(c: Checker) -> None:
    if c.value("attn_mode") == "xformers" and not c.on("split_attn"):
        c.resolve("C-SPLIT-ATTN", "attn_mode xformers without split_attn", [("split_attn", True)], stops=True,
                  fix="set split_attn=true")  # fmt: skip


@constraint("C-FP8-DIT", "anima_train_network.py / hunyuan_image_train_network.py assert_extra_args",
            "Anima turns fp8 off; HunyuanImage ignores fp8_base without fp8_scaled")  # fmt: skip
def fp8_where_the_trainer_has_it(c: Checker) -> None:
    fp8 = [k for k in ("fp8_base", "fp8_base_unet") if c.on(k)]
    if not fp8:
        return
    if c.family == "anima":
        c.resolve("C-FP8-DIT", f"{' and '.join(fp8)}: anima_train_network.py turns fp8 off",
                  [(k, None) for k in fp8], stops=False, fix="drop it; use blocks_to_swap to save memory")  # fmt: skip
    elif c.family == "hunyuan-image" and not c.on("fp8_scaled"):
        c.resolve("C-FP8-DIT", f"{' and '.join(fp8)}: HunyuanImage-2.1 does not support it",
                  [*((k, None) for k in fp8)], stops=False, fix="use fp8_scaled=true instead")  # fmt: skip


@constraint("C-MODEL-TYPE", "flux_train_network.py load_target_model (library/flux_utils.py load_flow_model)",
            "model_type follows the family: a Chroma checkpoint loaded as Flux (or the reverse) fails to load")  # fmt: skip
def model_type_matches_the_family(c: Checker) -> None:
    if c.family not in ("flux", "chroma") or not c.explicit("model_type"):
        return
    wanted = "chroma" if c.family == "chroma" else "flux"
    if c.value("model_type", "flux") != wanted:
        c.refuse("C-MODEL-TYPE", f"model_type {c.value('model_type')!r} for a {c.family} model",
                 f"drop it and give --family {c.value('model_type')} if the model really is one")  # fmt: skip


@constraint("C-CHROMA-OFFLOAD", "library/chroma_models.py enable_gradient_checkpointing",
            "Chroma ignores cpu_offload_checkpointing")  # fmt: skip
def chroma_ignores_offloading(c: Checker) -> None:
    if c.family == "chroma" and c.on("cpu_offload_checkpointing"):
        c.resolve("C-CHROMA-OFFLOAD", "cpu_offload_checkpointing does nothing for Chroma (its blocks never offload)",
                  [("cpu_offload_checkpointing", None)], stops=False,
                  fix="drop it; blocks_to_swap saves memory instead")  # fmt: skip
