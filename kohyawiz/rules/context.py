"""What every rule can read: the answers, the target sd-scripts, and a few derived facts."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from kohyawiz.answers import ADAPTIVE_OPTIMIZERS, Answers
from kohyawiz.decisions import Decider
from kohyawiz.facts import Interface
from kohyawiz.families import FamilySpec, family_spec
from kohyawiz.families.companions import Found

Tier = Literal["low", "mid", "high"]

def vram_tier(family: str, vram_gb: float) -> Tier:
    """Short of memory (low), comfortable (high) or between, by the family's own tiers."""
    low, high = family_spec(family).vram_tiers
    if vram_gb < low:
        return "low"
    return "high" if vram_gb >= high else "mid"


@dataclass
class ConceptPlan:
    """One concept as the plan trains it."""

    name: str
    triggers: list[str]
    images: int
    image_dir: Path
    repeats: int = 1
    sizes: list[tuple[int, int]] | None = None


@dataclass
class Context:
    answers: Answers
    interface: Interface
    decider: Decider
    out_dir: Path
    concepts: list[ConceptPlan]
    algo: str = "lora"
    notes: dict[str, str] = field(default_factory=dict)
    companions: list[Found] = field(default_factory=list)
    """The family's companion files, looked up once per plan (F-COMPANION)."""
    fit_optimizer: str | None = None
    """The optimizer the memory ladder (K-VRAM) chose instead of the answer's, if it did."""

    @property
    def optimizer(self) -> str:
        return self.fit_optimizer or self.answers.optimizer or self.recommended_optimizer

    @property
    def recommended_optimizer(self) -> str:
        """The guide's Prodigy, or the optimizer a DiT's doc trains with (F-OPT)."""
        recipe = self.spec.recipe
        return recipe.optimizer if self.dit and recipe else "prodigy"

    @property
    def family(self) -> str:
        return self.answers.model.family

    @property
    def spec(self) -> FamilySpec:
        return family_spec(self.family)

    @property
    def dit(self) -> bool:
        """A diffusion transformer with its own trainer (Flux, SD3, ...), not an SD UNet."""
        return self.spec.dit

    @property
    def tier(self) -> Tier:
        return vram_tier(self.family, self.answers.vram_gb)

    @property
    def adaptive(self) -> bool:
        return self.optimizer in ADAPTIVE_OPTIMIZERS

    @property
    def script(self) -> str:
        return self.spec.script


RuleFn = Callable[[Context], None]
REGISTRY: dict[str, RuleFn] = {}


def rule(rule_id: str) -> Callable[[RuleFn], RuleFn]:
    """Register a rule function under its RULES.md id."""

    def register(fn: RuleFn) -> RuleFn:
        if rule_id in REGISTRY:
            raise RuntimeError(f"rule {rule_id} registered twice")
        REGISTRY[rule_id] = fn
        return fn

    return register
