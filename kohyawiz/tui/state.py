"""What the wizard has been told so far, and the one PlanRequest it turns into (the same one the
CLI builds), so the wizard writes exactly the files `kohyawiz plan` writes for the same answers."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kohyawiz.assemble import PlanRequest, parse_concept

SUBJECT_NOTES = {
    "character": "a person or creature: about 30 images, a LoRA at rank 32",
    "concept": "an idea or pose: LoCon, LoHa, LoKr or GLoRA suit it",
    "object": "a thing: solo images of it, about 30",
    "clothing": "an outfit: one N_character, outfit folder per outfit",
    "style": "an art style: 50-200 images, LyCORIS, about 35 passes",
    "several": "several concepts in one LoRA: repeats are balanced per concept",
}


@dataclass
class WizardState:
    subject: str = "character"
    several: bool = False
    model_path: str = ""
    family: str = "sd1"
    tags: str = "natural"
    vpred: bool = False
    zsnr: bool = False
    merge: bool = False
    knows_subject: bool = False
    dataset: str = ""
    concept_counts: str = ""
    """`name=count` per line, for planning before the images exist."""
    vram_gb: float = 12.0
    gpus: int = 1
    network: str | None = None
    optimizer: str = "prodigy"
    precision: str = "fp16"
    with_other_loras: bool = False
    asymmetric: bool = False
    samples: bool = False
    save_state: bool = False
    overrides: dict[str, str] = field(default_factory=dict)
    out_dir: str = "plan"

    def answers(self) -> dict[str, Any]:
        model: dict[str, Any] = {
            "family": self.family, "tags": self.tags, "vpred": self.vpred, "zsnr": self.zsnr,
            "merge": self.merge, "knows_subject": self.knows_subject,
        }  # fmt: skip
        if self.model_path.strip():
            model["path"] = self.model_path.strip()
        answers: dict[str, Any] = {
            "subject": "character" if self.subject == "several" else self.subject,
            "model": model, "vram_gb": self.vram_gb, "gpus": self.gpus, "optimizer": self.optimizer,
            "precision": self.precision, "with_other_loras": self.with_other_loras, "asymmetric": self.asymmetric,
            "samples": self.samples, "save_state": self.save_state,
        }  # fmt: skip
        if self.network:
            answers["network"] = self.network
        return answers

    def request(self) -> PlanRequest:
        counts = [parse_concept(line) for line in self.concept_counts.splitlines() if line.strip()]
        return PlanRequest(
            out_dir=Path(self.out_dir),
            answers=self.answers(),
            dataset=Path(self.dataset) if self.dataset.strip() else None,
            concept_counts=counts,
            overrides=dict(self.overrides),
        )

    @classmethod
    def from_answers(cls, answers: dict[str, Any], overrides: dict[str, Any] | None = None) -> WizardState:
        state = cls()
        model = answers.get("model", {})
        for name in (
            "subject",
            "optimizer",
            "precision",
            "network",
            "with_other_loras",
            "asymmetric",
            "samples",
            "save_state",
            "gpus",
        ):
            if name in answers and answers[name] is not None:
                setattr(state, name, answers[name])
        if "vram_gb" in answers:
            state.vram_gb = float(answers["vram_gb"])
        for name in ("family", "tags", "vpred", "zsnr", "merge", "knows_subject"):
            if name in model:
                setattr(state, name, model[name])
        state.model_path = str(model.get("path", ""))
        concepts = answers.get("concepts") or []
        if len(concepts) > 1:
            state.several = True
        state.concept_counts = "\n".join(
            f"{c['name']}={c.get('images', 0)}" for c in concepts if isinstance(c, dict) and "name" in c
        )
        state.overrides = {k: str(v) for k, v in (overrides or {}).items()}
        return state
