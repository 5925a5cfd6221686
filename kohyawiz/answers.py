"""What the person told us. Every face (wizard, `kohyawiz plan`, a replayed preset) fills this model
and hands it to the plan engine; nothing else decides a setting."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Subject = Literal["character", "concept", "object", "clothing", "style"]
Family = Literal["sd1", "sd2", "sdxl", "flux", "chroma", "sd3", "lumina", "anima", "hunyuan-image"]
TagStyle = Literal["natural", "booru", "e6"]
Network = Literal["lora", "locon", "loha", "lokr", "dylora", "glora", "ia3", "diag-oft", "boft", "full"]
Optimizer = Literal["prodigy", "dadaptadam", "adamw", "adamw8bit"]
Precision = Literal["fp16", "bf16"]
Attention = Literal["auto", "xformers", "sdpa"]

FAMILIES: tuple[str, ...] = get_args(Family)
TAG_STYLES: tuple[str, ...] = get_args(TagStyle)
NETWORKS: tuple[str, ...] = get_args(Network)
OPTIMIZERS: tuple[str, ...] = get_args(Optimizer)
ADAPTIVE_OPTIMIZERS = frozenset({"prodigy", "dadaptadam"})

OverrideValue = bool | int | float | str | list[str] | list[float]

_NAME = re.compile(r"^[^/\\\x00]+$")

MAX_VRAM_GB = 1024
"""The largest card an answer may name (GB)."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True, validate_assignment=True)


class ModelAnswers(_Strict):
    """The base model to train on."""

    path: str | None = None
    """A .safetensors/.ckpt file, a diffusers folder or a Hugging Face id. Left out of presets."""
    family: Family
    """Ancestry: sd1 (SD1.x), sd2 (SD2.x), sdxl, or a diffusion transformer sd-scripts trains: flux
    (Flux.1), chroma, sd3 (SD3/3.5), lumina (Lumina Image 2.0), anima or hunyuan-image (2.1)."""
    tags: TagStyle = "natural"
    """Prompt style of the model's ancestry: natural language, booru (anime) or e6 (furry) tags."""
    vpred: bool = False
    """The model predicts v (v-parameterization)."""
    zsnr: bool = False
    """The model was trained with zero terminal SNR."""
    merge: bool = False
    """The model is a merge of other models rather than a base model or finetune."""
    clip_skip: Annotated[int, Field(ge=1, le=12)] | None = None
    """The clip skip the model's authors state, if they state one."""
    native_resolution: Annotated[int, Field(ge=256, le=4096)] | None = None
    """The largest resolution the model generates well, if known."""
    blocks: Annotated[int, Field(ge=1, le=1000)] | None = None
    """Transformer blocks of a DiT model, read off its header (bounds block swapping)."""
    params: Annotated[int, Field(ge=1)] | None = None
    """Parameters of the base model, read off its header (the memory model's weights)."""
    knows_subject: bool = False
    """The model already knows something close to the subject (e.g. an anime girl on an anime model)."""


_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def _has_control(text: str) -> bool:
    """Terminal control characters (C0, DEL, C1) and bidi overrides: nothing a caption should hold."""
    return any(ord(ch) < 0x20 or 0x7F <= ord(ch) <= 0x9F or ch in _BIDI_CONTROLS for ch in text)


class Concept(_Strict):
    """One thing to learn: a folder of images with its trigger tag(s)."""

    name: Annotated[str, Field(min_length=1)]
    """Name of the concept, as in the folder name after `N_` (e.g. `hmbrgr` or `char, outfit`)."""
    triggers: list[str] = Field(default_factory=list)
    """Trigger tags, first tag first. Defaults to the name split at commas."""
    images: Annotated[int, Field(ge=0, le=1_000_000)] | None = None
    """How many images the concept has (scanned from the folder when there is one)."""
    folder: str | None = None
    """The image folder. Left out of presets."""
    folder_repeats: Annotated[int, Field(ge=1, le=100_000)] | None = None
    """The N of an `N_name` folder: repeats per epoch the person chose."""
    repeats: Annotated[int, Field(ge=1, le=100_000)] | None = None
    """Repeats per epoch chosen explicitly; beats balancing."""

    @field_validator("name")
    @classmethod
    def _plain_name(cls, value: str) -> str:
        if not _NAME.match(value):
            raise ValueError("a concept name cannot contain a path separator")
        if _has_control(value):
            # sd-scripts writes the name into every caption (class_tokens) and the LoRA's tag metadata
            raise ValueError("a concept name cannot contain control characters: rename the folder or the concept")
        return value.strip()

    @field_validator("triggers")
    @classmethod
    def _plain_triggers(cls, value: list[str]) -> list[str]:
        if any(_has_control(tag) for tag in value):
            raise ValueError("a trigger tag cannot contain control characters")
        return value

    @model_validator(mode="after")
    def _default_triggers(self) -> Concept:
        if not self.triggers:
            tags = [t.strip() for t in self.name.split(",") if t.strip()]
            object.__setattr__(self, "triggers", tags or [self.name])
        return self


class Answers(_Strict):
    """Everything the plan engine needs to know about one training run."""

    schema_version: Literal[1] = 1
    subject: Subject
    """What is trained: character, concept, object, clothing or style. Several concepts make a
    multi-concept run."""
    model: ModelAnswers
    vram_gb: Annotated[float, Field(gt=0, le=MAX_VRAM_GB)]
    """Memory of the GPU that trains, in GB."""
    ram_gb: Annotated[float, Field(gt=0, le=65536)] | None = None
    """System memory of the machine that trains, in GB. Empty: read from the planning machine."""
    gpu_name: Annotated[str, Field(max_length=200)] | None = None
    """The GPU model (as nvidia-smi names it): earlier runs' measured peaks on it correct the estimate."""
    gpus: Annotated[int, Field(ge=1, le=64)] = 1
    """GPUs per machine that train together (one accelerate process each)."""
    nodes: Annotated[int, Field(ge=1, le=256)] = 1
    """Machines that train together (accelerate's num_machines), each with `gpus` GPUs."""
    concepts: Annotated[list[Concept], Field(min_length=1, max_length=1000)]
    """The concepts, one per `N_name` folder."""
    with_other_loras: bool = False
    """The LoRA will be used together with other LoRAs."""
    asymmetric: bool = False
    """The subject has asymmetric details (a marking, a single arm) that must not be mirrored."""
    network: Network | None = None
    """LoRA or a LyCORIS algorithm. Left empty, the guide's recommendation for the subject is used."""
    lokr_size: Literal["small", "large"] = "small"
    """LoKr only: a small file (factor -1) or a large, LoRA-like one (factor 8)."""
    network_options: dict[str, bool | int | float | str] = Field(default_factory=dict)
    """Extra network_args merged over kohyawiz's own (e.g. conv_dim, use_tucker); checked against
    what the network module reads."""
    optimizer: Optimizer | None = None
    """Prodigy, DAdaptAdam, AdamW or AdamW8bit. Left empty: the guide's Prodigy, or the optimizer of
    a diffusion transformer's sd-scripts doc (F-OPT)."""
    precision: Precision | None = None
    """fp16 keeps more detail for complex designs; bf16 trains faster. Empty means fp16."""
    attention: Attention = "auto"
    """Cross-attention kernel: xformers when it is installed, else sdpa."""
    samples: bool = False
    """Generate sample images during training, with prompts from the tag-style template."""
    save_state: bool = False
    """Save the training state with each checkpoint so a run can be resumed."""
    validation: bool | None = None
    """Set some images aside to measure a validation loss with (sd-scripts main). Empty: only when
    the dataset is large enough to spare them (K-VALIDATE)."""
    name: str | None = None
    """Output file name; defaults to the first concept's trigger."""
    save_as: Literal["safetensors", "ckpt"] = "safetensors"
    """File format of the LoRA. ckpt only on request."""
    overrides: dict[str, OverrideValue] = Field(default_factory=dict)
    """sd-scripts arguments set explicitly; they beat every rule."""

    @property
    def multi_concept(self) -> bool:
        return len(self.concepts) > 1

    @property
    def processes(self) -> int:
        """Every GPU of every machine: sd-scripts divides an epoch's batches among them all."""
        return self.gpus * self.nodes

    @model_validator(mode="after")
    def _unique_concepts(self) -> Answers:
        seen: set[str] = set()
        for concept in self.concepts:
            if concept.name in seen:
                raise ValueError(f"concept {concept.name!r} is listed twice")
            seen.add(concept.name)
        return self


def strip_machine_paths(data: dict[str, Any]) -> dict[str, Any]:
    """Answers as a preset may hold them: no model path, no folders."""
    out = {k: v for k, v in data.items() if k != "overrides"}
    if isinstance(out.get("model"), dict):
        out["model"] = {k: v for k, v in out["model"].items() if k != "path"}
    if isinstance(out.get("concepts"), list):
        out["concepts"] = [
            {k: v for k, v in c.items() if k != "folder"} if isinstance(c, dict) else c for c in out["concepts"]
        ]
    return out
