"""What kohyawiz knows about one model family: the sd-scripts trainer that trains it, the files
beside the model it needs, and the settings sd-scripts' own documentation gives for it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Companion:
    """A model file the trainer loads besides the base model (a text encoder, the VAE)."""

    arg: str
    """The sd-scripts argument that takes its path."""
    what: str
    names: tuple[str, ...]
    """File-name patterns (lower case, fnmatch) it is usually saved under, most specific first."""
    held_key: str | None = None
    """A checkpoint key that shows the base model holds it already (SD3 single files)."""
    folder_ok: bool = False
    """A Hugging Face model folder is accepted as well as a single file (Anima's Qwen3)."""


@dataclass(frozen=True)
class Setting:
    """One argument a family's documentation gives, with the reason in kohyawiz's words."""

    key: str
    value: Any
    why: str
    rule: str = "F-FLOW"


@dataclass(frozen=True)
class DocRecipe:
    """The training settings a family's sd-scripts doc gives together in its example command. They
    are one unit: the learning rate is only right at the doc's rank and alpha (LoRA scales its output
    by alpha / rank), so a plan that moves one moves the others with it (F-RANK, F-LR)."""

    dim: int
    alpha: float
    lr: float
    optimizer: str
    """An Answers optimizer id (adamw8bit, adamw)."""
    scheduler: str
    where: str
    """The doc and section the values come from."""
    resolution_where: str
    """Where the native resolution comes from (the doc, or the guide's T-RES where the doc is silent)."""


@dataclass(frozen=True)
class FamilySpec:
    id: str
    label: str
    script: str
    doc: str
    """The sd-scripts document its settings come from (or the guide, for the SD families)."""
    dit: bool = False
    network_module: str = "networks.lora"
    model_type: str | None = None
    companions: tuple[Companion, ...] = ()
    bucket_multiple: int = 64
    """bucket_reso_steps must be a multiple of this (the trainer's verify_bucket_reso_steps)."""
    resolution: int = 1024
    weak_resolution: int = 768
    """The guide's resolution for a card short of memory (SD families only: a DiT keeps its native
    resolution unless the memory ladder, K-VRAM, needs a smaller one)."""
    vram_tiers: tuple[float, float] = (8.0, 12.0)
    """GB below which training is short of memory, and from which it is comfortable."""
    flow: tuple[Setting, ...] = ()
    """Timestep sampling, prediction type, flow shift, guidance and masks from the doc."""
    precision: str | None = None
    """Mixed precision the doc asks for, when it asks for one."""
    fp8_arg: str | None = None
    """The argument that stores the frozen DiT in fp8 (None: the trainer has none that works)."""
    max_swap: int | None = None
    """The most transformer blocks blocks_to_swap can take (None: no block swapping)."""
    swap_table: tuple[tuple[float, int, bool], ...] = ()
    """The doc's table: (up to GB of VRAM, blocks to swap, fp8), smallest card first."""
    text_encoder_trainable: bool = True
    """False where the trainer cannot train a text-encoder network (network_train_unet_only required)."""
    recipe: DocRecipe | None = None
    """The doc's rank, alpha, learning rate, optimizer and scheduler (the DiT families)."""
    attention: str = "sdpa"
    """"sdpa": the --sdpa switch; "attn_mode": the trainer's own --attn_mode; "own": neither."""
    sample_options: str = "--n {negative} --s 28 --l 7"
    """Sampler options for sample_prompts.txt in the trainer's own prompt syntax."""
    extra: tuple[Setting, ...] = field(default_factory=tuple)
    """Further arguments the doc's example passes (system prompt, VAE chunking)."""
