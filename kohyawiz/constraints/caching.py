"""Latent and text-encoder caching (train_network.py, sdxl_train_network.py, library/train_util.py,
library/sdxl_train_util.py)."""

from __future__ import annotations

from kohyawiz.constraints.base import Checker, constraint

_TE_CACHE_BLOCKERS = ("shuffle_caption", "caption_dropout_rate", "caption_tag_dropout_rate", "token_warmup_step")


def _cache_turned_back_on(c: Checker, cid: str, disk_key: str, cache_key: str) -> None:
    """sd-scripts turns `cache_key` on whenever `disk_key` is on, whatever `cache_key` says."""
    if c.on(disk_key) and c.value(cache_key) is False:
        c.resolve(cid, f"{cache_key} is off but {disk_key} turns it back on", [(disk_key, None)], stops=False,
                  fix=f"sd-scripts caches anyway; drop {disk_key} to really turn caching off")  # fmt: skip


@constraint(
    "C-CACHE-DISK",
    "library/train_util.py verify_training_args",
    "cache_latents_to_disk turns cache_latents on, whatever cache_latents says",
)
def disk_cache_implies_cache(c: Checker) -> None:
    _cache_turned_back_on(c, "C-CACHE-DISK", "cache_latents_to_disk", "cache_latents")


@constraint(
    "C-CACHE-AUG",
    "train_network.py (is_latent_cacheable) and library/train_util.py",
    "cached latents cannot be combined with color_aug or random_crop",
)
def cached_latents_forbid_augmentation(c: Checker) -> None:
    augs = [k for k in ("color_aug", "random_crop") if c.on(k)]
    caching = [k for k in ("cache_latents", "cache_latents_to_disk") if c.on(k)]
    if not augs or not caching:
        return
    _cache_gives_way(c, "C-CACHE-AUG", caching, augs, "the image", "its latents", "cache_latents=false")


@constraint(
    "C-TECACHE-DISK",
    "library/sdxl_train_util.py verify_sdxl_training_args",
    "cache_text_encoder_outputs_to_disk turns cache_text_encoder_outputs on",
)
def te_disk_cache_implies_cache(c: Checker) -> None:
    _cache_turned_back_on(c, "C-TECACHE-DISK", "cache_text_encoder_outputs_to_disk", "cache_text_encoder_outputs")


def _cache_gives_way(c: Checker, cid: str, caching: list[str], changers: list[str], what: str, cached: str,
                     fix: str) -> bool:  # fmt: skip
    """Something that changes `what` every step excludes caching it: a rule's caching gives way
    (True); caching set by hand keeps its place and the changers are refused or give way."""
    verb = "changes" if len(changers) == 1 else "change"
    problem = f"{' and '.join(changers)} {verb} {what} every step, so {cached} cannot be cached"
    if any(c.explicit(k) for k in caching):
        c.resolve(cid, problem, [(k, None) for k in changers], stops=True,
                  fix=f"drop {' and '.join(changers)} or set {fix}")  # fmt: skip
        return False
    for key in caching:
        c.give_way(key, None, cid, problem)
    return True


def _te_caching(c: Checker) -> list[str]:
    return [k for k in ("cache_text_encoder_outputs", "cache_text_encoder_outputs_to_disk") if c.on(k)]


@constraint(
    "C-TECACHE-CAPTIONS",
    "sdxl_train_network.py assert_extra_args (is_text_encoder_output_cacheable)",
    "cached text-encoder outputs cannot be combined with shuffled, dropped or warmed-up captions",
)
def cached_te_forbid_caption_changes(c: Checker) -> None:
    caching = _te_caching(c)
    # Anima keeps the dropout rate with each cached output (anima_train_network.py).
    blockers = [k for k in _TE_CACHE_BLOCKERS if c.on(k) and c.value(k) != 0
                and not (c.family == "anima" and k == "caption_dropout_rate")]  # fmt: skip
    if not caching or not blockers:
        return
    if not _cache_gives_way(c, "C-TECACHE-CAPTIONS", caching, blockers, "the caption",
                            "its text-encoder outputs", "cache_text_encoder_outputs=false"):  # fmt: skip
        return
    if c.family == "hunyuan-image":
        return  # its text encoders never train (C-DIT-ONLY)
    if c.value("network_train_unet_only") and not c.explicit("network_train_unet_only"):
        c.give_way("network_train_unet_only", None, "C-TECACHE-CAPTIONS",
                   "text-encoder outputs are not cached, so the text encoders can train again")  # fmt: skip


@constraint(
    "C-TECACHE-TRAIN",
    "sdxl_train_network.py / anima_train_network.py assert_extra_args",
    "with cached text-encoder outputs only the UNet (DiT) can train (network_train_unet_only)",
)
def cached_te_means_unet_only(c: Checker) -> None:
    # Flux and SD3 cache only what does not train; Lumina and HunyuanImage do not assert it.
    if c.family not in ("sdxl", "anima") or not _te_caching(c) or c.on("network_train_unet_only"):
        return
    options: list[tuple[str, object]] = [("network_train_unet_only", True)]
    options += [(k, None) for k in _te_caching(c)]
    c.resolve(
        "C-TECACHE-TRAIN",
        "cached text-encoder outputs leave no text encoder to train",
        options,
        stops=True,
        fix="set network_train_unet_only=true or drop cache_text_encoder_outputs",
    )
