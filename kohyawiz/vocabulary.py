"""The answers vocabulary, declared once: each answer's place in Answers, its `kohyawiz plan` flag
with its help and choices, its field in the wizard's state, and the kohya_ss GUI key an import
reads it from. The CLI's answer flags are generated from it (cli.add_plan_arguments, and the
flag-to-answer mapping of cli/plan_cmd.py); tests/test_vocabulary.py checks every face against it,
so a new answer that a face does not take fails there.

Nothing here imports pydantic: `kohyawiz --help` builds its flags from this module alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

Kind = Literal["choice", "switch", "toggle", "int", "float", "text"]

SUBJECTS = ("character", "concept", "object", "clothing", "style")
FAMILIES = ("sd1", "sd2", "sdxl", "flux", "chroma", "sd3", "lumina", "anima", "hunyuan-image")
TAG_STYLES = ("natural", "booru", "e6")
NETWORKS = ("lora", "locon", "loha", "lokr", "dylora", "glora", "ia3", "diag-oft", "boft", "full")
OPTIMIZERS = ("prodigy", "dadaptadam", "adamw", "adamw8bit")
PRECISIONS = ("fp16", "bf16")


@dataclass(frozen=True)
class Answer:
    path: tuple[str, ...]
    """Where it sits in Answers: ("vram_gb",), ("model", "family")."""
    flag: str
    """The `kohyawiz plan` flag, or "" where the command line does not ask it (see `unasked`)."""
    help: str
    kind: Kind
    choices: tuple[str, ...] = ()
    metavar: str | None = None
    state: str = ""
    """The wizard's WizardState field, or "" where the wizard does not ask it."""
    sample: Any = None
    """A value the tests give through every face."""
    gui: tuple[dict[str, Any], Any] | None = None
    """A kohya_ss GUI JSON fragment and the answer an import takes from it, or None."""
    unasked: tuple[tuple[str, str], ...] = ()
    """(face, why) for each face that does not take this answer."""

    @property
    def dest(self) -> str:
        return self.flag.removeprefix("--").replace("-", "_")


ANSWERS: tuple[Answer, ...] = (
    Answer(("subject",), "--subject", "what the LoRA teaches", "choice", SUBJECTS, state="subject", sample="style",
           unasked=(("import", "kohya_ss has no subject; the importer asks for it or takes a preset's"),)),
    Answer(("vram_gb",), "--vram", "GPU memory in GB", "float", metavar="GB", state="vram_gb", sample=10.0,
           unasked=(("import", "kohya_ss configs do not record the card's memory"),)),
    Answer(("ram_gb",), "--ram",
           "system memory of the machine that trains (default: this machine's, from /proc/meminfo)", "float",
           metavar="GB", state="ram_gb", sample=32.0,
           unasked=(("import", "kohya_ss configs do not record the machine's memory"),)),
    Answer(("gpu_name",), "--gpu",
           "the GPU model as nvidia-smi names it: earlier runs measured on it correct the estimate "
           "(default: this machine's, when nvidia-smi names one)", "text", metavar="NAME", state="gpu_name",
           sample="NVIDIA GeForce RTX 3060",
           unasked=(("import", "kohya_ss configs do not name the card"),)),
    Answer(("gpus",), "--gpus", "GPUs per machine that train together (default 1)", "int", metavar="N",
           state="gpus", sample=2, gui=({"num_processes": 2}, 2)),
    Answer(("nodes",), "--nodes", "machines that train together, --gpus each (default 1)", "int", metavar="M",
           state="nodes", sample=2, gui=({"num_processes": 4, "num_machines": 2}, 2)),
    Answer(("network",), "--network", "LoRA or a LyCORIS algorithm", "choice", NETWORKS, state="network",
           sample="loha", gui=({"LoRA_type": "LyCORIS/LoHa"}, "loha")),
    Answer(("lokr_size",), "", "LoKr's file: small (factor -1) or large (factor 8)", "choice", ("small", "large"),
           state="lokr_size", sample="large",
           unasked=(("cli", "a preset's lokr_size, or --set network_args with the factor, sets it"),
                    ("import", "an import keeps kohya_ss's factor itself in network_args"))),
    Answer(("optimizer",), "--optimizer", "the optimizer (default: the guide's pick)", "choice", OPTIMIZERS,
           state="optimizer", sample="adamw", gui=({"optimizer": "AdamW"}, "adamw")),
    Answer(("precision",), "--precision", "fp16 (detail) or bf16 (speed)", "choice", PRECISIONS,
           state="precision", sample="bf16", gui=({"mixed_precision": "bf16"}, "bf16")),
    Answer(("with_other_loras",), "--with-other-loras", "used with other LoRAs", "switch",
           state="with_other_loras", sample=True, gui=({"scale_weight_norms": 1.0}, True)),
    Answer(("asymmetric",), "--asymmetric", "subject has asymmetric details", "switch", state="asymmetric",
           sample=True, unasked=(("import", "a kohya_ss config does not say whether the subject is asymmetric"),)),
    Answer(("samples",), "--samples", "sample images during training", "switch", state="samples", sample=True,
           gui=({"sample_every_n_epochs": 1, "sample_prompts": "a photo"}, True)),
    Answer(("save_state",), "--save-state", "save state to allow --resume", "switch", state="save_state",
           sample=True, gui=({"save_state": True}, True)),
    Answer(("validation",), "--validate",
           "set images aside for a validation loss that picks the checkpoint (default: when the dataset can spare "
           "them)", "toggle", state="validation", sample=False,
           unasked=(("import", "kohya_ss's validation split is its own setting, kept as an override"),)),
    Answer(("name",), "--name", "output file name", "text", state="name", sample="mylora",
           gui=({"output_name": "mylora"}, "mylora")),
    Answer(("model", "path"), "--model", "base model: file, diffusers folder or Hugging Face id", "text",
           metavar="PATH", state="model_path", sample="/models/base.safetensors",
           unasked=(("import", "a path from a shared file is shown, not taken (kohyawiz/trust.py): pass it as "
                     "--model"),)),
    Answer(("model", "family"), "--family", "the base model's ancestry (or the DiT sd-scripts trains)", "choice",
           FAMILIES, state="family", sample="sdxl", gui=({"sdxl": True}, "sdxl")),
    Answer(("model", "tags"), "--tags", "the model's prompt style", "choice", TAG_STYLES, state="tags",
           sample="booru", unasked=(("import", "kohya_ss does not record the model's prompt style"),)),
    Answer(("model", "vpred"), "--vpred", "the model predicts v", "switch", state="vpred", sample=True,
           gui=({"v_parameterization": True, "v2": True}, True)),
    Answer(("model", "zsnr"), "--zsnr", "the model supports zero terminal SNR", "switch", state="zsnr",
           sample=True, gui=({"zero_terminal_snr": True}, True)),
    Answer(("model", "merge"), "--merge", "the model is a merge", "switch", state="merge", sample=True,
           unasked=(("import", "kohya_ss does not record what the base model is"),)),
    Answer(("model", "clip_skip"), "--clip-skip", "the clip skip the model's authors state", "int", metavar="N",
           state="clip_skip", sample=2, unasked=(("import", "kohya_ss's clip_skip is a training setting, kept as an "
                                                  "override"),)),
    Answer(("model", "native_resolution"), "--native-resolution", "the model's native resolution", "int",
           metavar="PX", state="native_resolution", sample=1024,
           unasked=(("import", "kohya_ss does not record the model's native resolution"),)),
    Answer(("model", "knows_subject"), "--knows-subject", "the model knows something close", "switch",
           state="knows_subject", sample=True,
           unasked=(("import", "kohya_ss does not record what the model knows"),)),
)

NOT_ASKED: dict[str, str] = {
    "schema_version": "the preset format's version, not an answer",
    "concepts": "from the dataset folder (--dataset) or --concept NAME=COUNT, the wizard's dataset step, "
                "an import's folders",
    "overrides": "sd-scripts arguments set directly: --set KEY=VALUE, the wizard's review, an import's leftovers",
    "network_options": "LyCORIS and network module options: a preset's [answers.network_options]",
    "attention": "taken from an import (xformers / sdpa); auto everywhere else",
    "save_as": "safetensors unless a preset or an import asks for ckpt",
    "model.blocks": "read off the model's header, never asked",
    "model.params": "read off the model's header, never asked",
}
"""Answers no face asks a person directly, and where they come from instead."""


def by_dest() -> dict[str, tuple[str, ...]]:
    """`kohyawiz plan`'s flag destination -> the answer's path."""
    return {answer.dest: answer.path for answer in ANSWERS if answer.flag}
