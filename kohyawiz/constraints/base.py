"""The vocabulary of constraints: what sd-scripts does at run time with a whole plan.

A rule decides one key from the answers. A constraint looks at the plan as sd-scripts will see it
(every effective value, whatever its source) and applies what sd-scripts' run-time code asserts,
refuses, silently turns off or warns about. When a constraint finds a conflict:

- a value a rule chose gives way; the new decision names the constraint and says why;
- a value the person (or a preset) set is kept and warned about, or, when sd-scripts would stop
  on it, the plan is refused with one line that says what to change.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kohyawiz.decisions import Decider, Decision, Finding, Source


@dataclass(frozen=True)
class Constraint:
    id: str
    where: str
    """The sd-scripts (or LyCORIS) file whose run-time code this follows."""
    summary: str
    check: Callable[[Checker], None]


@dataclass
class Checker:
    """Effective values of a decided plan, and the three outcomes a constraint can have."""

    decider: Decider
    script: str
    family: str
    version: str
    image_sizes: list[tuple[int, int]] | None = None
    """Every image's size when all were read; None when some are unknown."""
    network: str = "lora"
    bucket_divisor: int = 64
    """What bucket_reso_steps must divide by for this script and version."""
    max_swap: int | None = None
    """The most blocks blocks_to_swap can move for this model (None: the trainer has no swapping)."""
    changed: list[str] = field(default_factory=list)
    refusals: list[Finding] = field(default_factory=list)

    def value(self, key: str, default: Any = None) -> Any:
        found = self.decider.decisions.get(key)
        return default if found is None or found.value is None else found.value

    def on(self, key: str) -> bool:
        value = self.value(key)
        return bool(value) and value not in ("false", "False")

    def number(self, key: str, default: float = 0) -> float:
        value = self.value(key)
        if isinstance(value, bool) or not isinstance(value, int | float):
            return default
        return float(value)

    def source(self, key: str) -> Source | None:
        found = self.decider.decisions.get(key)
        return None if found is None else found.source

    def explicit(self, key: str) -> bool:
        """Set by the person or a preset, not chosen by a rule."""
        return self.source(key) in ("user", "preset")

    def who(self, key: str) -> str:
        source = self.source(key)
        return {"user": "you set", "preset": "the preset sets"}.get(source or "", "a rule chose")

    def give_way(self, key: str, value: Any, cid: str, reason: str) -> None:
        """Replace a rule's value (None leaves the key to sd-scripts' default)."""
        before = self.decider.decisions.get(key)
        beaten = f"; {before.rule} chose {before.value!r}" if before is not None and before.value is not None else ""
        self.decider.decisions[key] = Decision(key, value, cid, f"{reason}{beaten}", "rule", "arg")
        self.changed.append(key)

    def resolve(self, cid: str, problem: str, options: list[tuple[str, Any]], *, stops: bool, fix: str) -> bool:
        """Settle a conflict: the first option whose key is not explicit gives way.

        Returns True when a value gave way. Otherwise the explicit values stay: a refusal when
        sd-scripts stops on them, a warning when it only ignores or overrides one.
        """
        for key, value in options:
            if not self.explicit(key):
                self.give_way(key, value, cid, problem)
                return True
        if stops:
            self.refusals.append(Finding(cid, "error", f"{problem}: sd-scripts {self.version} stops on it; {fix}"))
        else:
            self.decider.warn(cid, f"{problem}; {fix}")
        return False

    def refuse(self, cid: str, problem: str, fix: str) -> None:
        self.refusals.append(Finding(cid, "error", f"{problem}: sd-scripts {self.version} stops on it; {fix}"))

    def warn(self, cid: str, message: str) -> None:
        self.decider.warn(cid, message)

    @property
    def sdxl(self) -> bool:
        return self.script.startswith("sdxl")

    @property
    def lycoris(self) -> bool:
        return self.value("network_module") == "lycoris.kohya"


REGISTRY: dict[str, Constraint] = {}


def constraint(cid: str, where: str, summary: str) -> Callable[[Callable[[Checker], None]], Callable[[Checker], None]]:
    """Register a constraint under its C- id, with the file it follows."""

    def register(fn: Callable[[Checker], None]) -> Callable[[Checker], None]:
        if cid in REGISTRY:
            raise RuntimeError(f"constraint {cid} registered twice")
        REGISTRY[cid] = Constraint(cid, where, summary, fn)
        return fn

    return register


def sweep_file() -> Path:
    from kohyawiz.resources import vendor_dir

    return vendor_dir() / "sd-scripts-facts" / "runtime-sweep.toml"
