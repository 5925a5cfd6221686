"""What the wizard has been told so far, and the one PlanRequest it turns into (the same one the
CLI builds), so the wizard writes exactly the files `kohyawiz plan` writes for the same answers.

An answer the person has not given stays None and is left out of the request, as a flag left off
the command line would be: the rules decide it, or the core says it is missing.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from types import UnionType
from typing import Any, Union, get_args, get_origin, get_type_hints

from kohyawiz.assemble import PlanRequest, parse_concept
from kohyawiz.errors import UserError

SUBJECT_NOTES = {
    "character": "a person or creature: about 30 images, a LoRA at rank 32",
    "concept": "an idea or pose: LoCon, LoHa, LoKr or GLoRA suit it",
    "object": "a thing: solo images of it, about 30",
    "clothing": "an outfit: one N_character, outfit folder per outfit",
    "style": "an art style: 50-200 images, LyCORIS, about 35 passes",
    "several": "several concepts in one LoRA: repeats are balanced per concept",
}
def _fits(value: Any, hint: Any) -> bool:
    """Whether a value read from an answers file has the type of its WizardState field (a file
    from someone else may hold `dataset = 5` or `gpus = 1e308`)."""
    origin, args = get_origin(hint), get_args(hint)
    if origin in (Union, UnionType):
        return any(_fits(value, arg) for arg in args)
    if hint is type(None):
        return value is None
    if origin is list:
        return isinstance(value, list) and all(_fits(item, args[0]) for item in value)
    if origin is dict:
        return isinstance(value, dict) and all(isinstance(k, str) for k in value)
    if hint is float:
        return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, hint)


def _kind(hint: Any) -> str:
    words = {str: "text", bool: "true or false", int: "a whole number", float: "a number", type(None): "unset"}
    if get_origin(hint) in (Union, UnionType):
        return " or ".join(_kind(arg) for arg in get_args(hint))
    return words.get(hint, "a list of text" if get_origin(hint) is list else "a table")


RECOVERY_MARK = "kohyawiz_wizard_answers"
"""The first key of a file the wizard saved its answers in (a recovery or a resume file)."""

# The model answers an inspected header can give, and how the wizard names them.
HEADER_FIELDS = ("family", "vpred", "zsnr", "native_resolution", "blocks", "params")


@dataclass
class WizardState:
    subject: str | None = None
    several: bool = False
    model_path: str = ""
    family: str | None = None
    tags: str = "natural"
    vpred: bool = False
    zsnr: bool = False
    merge: bool = False
    knows_subject: bool = False
    clip_skip: int | None = None
    native_resolution: int | None = None
    blocks: int | None = None
    params: int | None = None
    from_header: list[str] = field(default_factory=list)
    """Model answers that came from the model file's header and were not changed since."""
    inspected_path: str = ""
    dataset: str = ""
    concept_counts: str = ""
    """`name=count` per line, for planning before the images exist."""
    force: bool = False
    """Plan even though the dataset check finds errors (the CLI's --force)."""
    vram_gb: float | None = None
    vram_source: str = ""
    gpu_name: str | None = None
    ram_gb: float | None = None
    gpus: int = 1
    nodes: int = 1
    """Machines that train together; only a preset sets it (clusters are planned with `kohyawiz plan --nodes`)."""
    network: str | None = None
    lokr_size: str | None = None
    optimizer: str | None = None
    precision: str | None = None
    with_other_loras: bool = False
    asymmetric: bool = False
    samples: bool = False
    save_state: bool = False
    validation: bool | None = None
    """Set images aside for a validation loss; None leaves it to K-VALIDATE (the CLI's --validate/--no-validate)."""
    name: str = ""
    sd_scripts_version: str | None = None
    overrides: dict[str, str] = field(default_factory=dict)
    out_dir: str = "plan"
    preset: str = ""
    """The preset the answers started from, if any (shown; its overrides are in `overrides`)."""

    def answers(self) -> dict[str, Any]:
        """The answers given so far, shaped as `kohyawiz plan` builds them from its flags."""
        model: dict[str, Any] = {"tags": self.tags}
        if self.family:
            model["family"] = self.family
        for name in ("vpred", "zsnr", "merge", "knows_subject"):
            if getattr(self, name):
                model[name] = True
        if self.clip_skip is not None:
            model["clip_skip"] = self.clip_skip
        for name in ("native_resolution", "blocks", "params"):
            if getattr(self, name) is not None:
                model[name] = getattr(self, name)
        if self.model_path.strip():
            model["path"] = self.model_path.strip()
        answers: dict[str, Any] = {"model": model, "gpus": self.gpus}
        if self.nodes > 1:
            answers["nodes"] = self.nodes
        if self.subject:
            answers["subject"] = "character" if self.subject == "several" else self.subject
        if self.vram_gb is not None:
            answers["vram_gb"] = self.vram_gb
        if self.gpu_name:
            answers["gpu_name"] = self.gpu_name
        if self.ram_gb is not None:
            answers["ram_gb"] = self.ram_gb
        for name in ("network", "optimizer", "precision", "lokr_size"):
            if getattr(self, name):
                answers[name] = getattr(self, name)
        for name in ("with_other_loras", "asymmetric", "samples", "save_state"):
            if getattr(self, name):
                answers[name] = True
        if self.validation is not None:
            answers["validation"] = self.validation
        if self.name.strip():
            answers["name"] = self.name.strip()
        return answers

    def concept_list(self) -> list[tuple[str, int]]:
        return [parse_concept(line) for line in self.concept_counts.splitlines() if line.strip()]

    def request(self, *, force: bool | None = None) -> PlanRequest:
        return PlanRequest(
            out_dir=Path(self.out_dir.strip() or "plan"),
            answers=self.answers(),
            dataset=Path(self.dataset.strip()).expanduser() if self.dataset.strip() else None,
            concept_counts=self.concept_list(),
            overrides=dict(self.overrides),
            sd_scripts_version=self.sd_scripts_version,
            force=self.force if force is None else force,
        )

    def missing(self) -> str | None:
        """The first answer the core requires that has not been given, in the wizard's words."""
        if not self.subject:
            return "choose what you are training (step 1)"
        if not self.family:
            return "choose the base model's family (step 2), or give a model file to read it from"
        if not (self.dataset.strip() or self.concept_counts.strip()):
            return "give a training folder, or concepts as name=count (step 3)"
        if self.vram_gb is None:
            return "give your GPU's memory in GB (step 4)"
        return None

    # ---- saving and resuming ---------------------------------------------------------------------

    def to_toml(self) -> str:
        """Every answer, machine paths included: for resuming on this machine, not for sharing."""
        from kohyawiz import tomlwrite

        data = {k: v for k, v in asdict(self).items() if v is not None and k != "overrides"}
        lines = [f"{RECOVERY_MARK} = 1", *tomlwrite.pairs([(k, v, None) for k, v in data.items()])]
        if self.overrides:
            lines += ["", "[overrides]", *tomlwrite.pairs([(k, v, None) for k, v in self.overrides.items()])]
        return "\n".join(lines) + "\n"

    @classmethod
    def from_toml(cls, text: str, where: str) -> WizardState:
        from kohyawiz.door import parse_toml
        from kohyawiz.trust import refuse_foreign

        data = parse_toml(text, "wizard answers file", where)
        data.pop(RECOVERY_MARK, None)
        overrides = data.get("overrides")
        if isinstance(overrides, dict):
            # An answers file may come from someone else: its overrides cross the trust boundary,
            # except the values this person's own plans held.
            refuse_foreign(overrides, where, what="an answers file", fix="set it yourself in the review step",
                           trust_named=True, prefix="overrides.")  # fmt: skip
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise UserError(f"{unknown[0]} is not a wizard answer", where=where)
        hints = get_type_hints(cls)
        for key, value in data.items():
            if not _fits(value, hints[key]):
                raise UserError(f"{key} = {str(value)[:60]!r} should be {_kind(hints[key])}: fix it or remove the line",
                                where=where)  # fmt: skip
        state = cls()
        for key, value in data.items():
            setattr(state, key, value)
        state.overrides = {str(k): str(v) for k, v in (data.get("overrides") or {}).items()}
        return state

    @classmethod
    def from_answers(cls, answers: dict[str, Any], overrides: dict[str, Any] | None = None) -> WizardState:
        """A state from a preset's answers (a preset holds no machine paths)."""
        state = cls()
        model = answers.get("model", {}) if isinstance(answers.get("model"), dict) else {}
        for name in ("subject", "optimizer", "precision", "network", "lokr_size", "name"):
            if answers.get(name) is not None:
                setattr(state, name, answers[name])
        for name in ("with_other_loras", "asymmetric", "samples", "save_state"):
            state.__setattr__(name, bool(answers.get(name, False)))
        if isinstance(answers.get("validation"), bool):
            state.validation = answers["validation"]
        if "gpus" in answers:
            state.gpus = int(answers["gpus"])
        if "nodes" in answers:
            state.nodes = int(answers["nodes"])
        if "vram_gb" in answers:
            state.vram_gb = float(answers["vram_gb"])
        if isinstance(answers.get("gpu_name"), str):
            state.gpu_name = answers["gpu_name"]
        if isinstance(answers.get("ram_gb"), int | float):
            state.ram_gb = float(answers["ram_gb"])
        for name in ("family", "tags", "clip_skip", "native_resolution", "blocks", "params"):
            if model.get(name) is not None:
                setattr(state, name, model[name])
        for name in ("vpred", "zsnr", "merge", "knows_subject"):
            setattr(state, name, bool(model.get(name, False)))
        state.model_path = str(model.get("path", ""))
        concepts = [c for c in answers.get("concepts") or [] if isinstance(c, dict) and "name" in c]
        state.several = len(concepts) > 1
        state.concept_counts = "\n".join(f"{c['name']}={c.get('images', 0)}" for c in concepts)
        state.overrides = {k: str(v) for k, v in (overrides or {}).items()}
        return state


def number_problem(text: str, *, what: str, low: float, high: float, whole: bool = False) -> str | None:
    """Why `text` is not a usable number, in the wizard's words, or None."""
    stripped = text.strip()
    if not stripped:
        return f"{what} is needed"
    try:
        value = int(stripped) if whole else float(stripped)
    except ValueError:
        return f"{what} must be a {'whole ' if whole else ''}number, e.g. {int(low) if whole else 12}"
    if not math.isfinite(value):
        return f"{what} must be a finite number"
    if not low <= value <= high:
        return f"{what} must be between {low:g} and {high:g}"
    return None
