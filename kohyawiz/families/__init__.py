"""Every model family kohyawiz plans, one module each, and the lookup the rules use."""

from __future__ import annotations

from kohyawiz.families.anima import ANIMA
from kohyawiz.families.base import Companion, DocRecipe, FamilySpec, Setting
from kohyawiz.families.flux import CHROMA, FLUX
from kohyawiz.families.hunyuan_image import HUNYUAN_IMAGE
from kohyawiz.families.lumina import LUMINA
from kohyawiz.families.sd import SD1, SD2, SDXL
from kohyawiz.families.sd3 import SD3

SPECS: dict[str, FamilySpec] = {
    spec.id: spec for spec in (SD1, SD2, SDXL, FLUX, CHROMA, SD3, LUMINA, ANIMA, HUNYUAN_IMAGE)
}


def family_spec(family: str) -> FamilySpec:
    return SPECS[family]


def swap_max(spec: FamilySpec, blocks: int | None) -> int | None:
    """The most blocks blocks_to_swap can move: the family's limit, or two fewer than the blocks the
    checkpoint's header shows where models differ in depth (SD3 medium and large, Anima sizes)."""
    if spec.max_swap is None:
        return None
    if blocks and blocks > 4 and spec.id in ("sd3", "lumina", "anima"):
        return min(spec.max_swap, blocks - 2) if spec.id != "sd3" else blocks - 2
    return spec.max_swap


def trainable_networks(family: str) -> tuple[str, ...]:
    """The networks (answers.network) kohyawiz plans for a family: a diffusion transformer trains
    its own LoRA module only (F-MODULE); LyCORIS and DyLoRA are planned for the SD families."""
    from kohyawiz.answers import NETWORKS

    return ("lora",) if family_spec(family).dit else NETWORKS


def trainer_scripts() -> tuple[str, ...]:
    """Every sd-scripts LoRA trainer kohyawiz plans for, without repeats."""
    return tuple(dict.fromkeys(spec.script for spec in SPECS.values()))


__all__ = [
    "SPECS", "Companion", "DocRecipe", "FamilySpec", "Setting", "family_spec", "swap_max", "trainable_networks",
    "trainer_scripts",
]
