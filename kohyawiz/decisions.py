"""The vocabulary of rules: decisions, findings, and the Decider that applies overrides.

A rule proposes a value for a key; the Decider records it, unless the person (or a preset) set
that key, in which case their value is recorded instead, with the rule it beat. Rules read
effective values back from the Decider, so a dependent setting follows an override (an
overridden resolution moves max_bucket_reso with it).

This module imports nothing of kohyawiz's and no pydantic: the dataset doctor, the constraints
and the faces use these types without loading the rule engine.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Source = Literal["rule", "preset", "user"]
Level = Literal["error", "warn", "info"]


@dataclass(frozen=True)
class Decision:
    key: str
    value: Any
    """None means the key is deliberately not emitted (sd-scripts' default applies)."""
    rule: str
    reason: str
    source: Source = "rule"
    scope: Literal["arg", "plan"] = "arg"
    """"arg": an sd-scripts argument; "plan": a choice of kohyawiz's own (network, repeats)."""

    def as_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "value": self.value,
            "rule": self.rule,
            "reason": self.reason,
            "source": self.source,
            "scope": self.scope,
        }


@dataclass(frozen=True)
class Finding:
    rule: str
    level: Level
    message: str
    path: str | None = None
    """The file or folder the finding is about, when it is about one."""

    def as_dict(self) -> dict[str, str]:
        out = {"rule": self.rule, "level": self.level, "message": self.message}
        if self.path:
            out["path"] = self.path
        return out


@dataclass
class Decider:
    overrides: dict[str, tuple[Any, Source]] = field(default_factory=dict)
    fitted: dict[str, tuple[Any, str]] = field(default_factory=dict)
    """Values the memory ladder (K-VRAM) puts in place of a rule's, with why; overrides still win."""
    decisions: dict[str, Decision] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)

    def set(self, key: str, value: Any, rule: str, reason: str) -> Any:
        """Propose `value` for `key`; return the value that takes effect."""
        if key in self.overrides:
            chosen, source = self.overrides[key]
            beaten = "nothing" if value is None else repr(value)
            self.decisions[key] = Decision(
                key, chosen, rule, f"set by the {source}; {rule} would give {beaten} ({reason})", source
            )
            return chosen
        if key in self.fitted and self.fitted[key][0] != value:
            fitted, why = self.fitted[key]
            beaten = "nothing" if value is None else repr(value)
            self.decisions[key] = Decision(key, fitted, "K-VRAM", f"{why}; {rule} would give {beaten} ({reason})")
            return fitted
        self.decisions[key] = Decision(key, value, rule, reason)
        return value

    def record(self, decision: Decision) -> None:
        self.decisions[decision.key] = decision

    def record_plan(self, key: str, value: Any, rule: str, reason: str, source: Source = "rule") -> Any:
        """A choice of the plan's own that is not an sd-scripts argument."""
        self.decisions[key] = Decision(key, value, rule, reason, source, scope="plan")
        return value

    def omit(self, key: str, rule: str, reason: str) -> Any:
        """Leave `key` to sd-scripts' default, unless it was set explicitly."""
        return self.set(key, None, rule, reason)

    def get(self, key: str, default: Any = None) -> Any:
        if key in self.decisions:
            return self.decisions[key].value
        if key in self.overrides:
            return self.overrides[key][0]
        return default

    def warn(self, rule: str, message: str) -> None:
        self.findings.append(Finding(rule, "warn", message))

    def info(self, rule: str, message: str) -> None:
        self.findings.append(Finding(rule, "info", message))

    def error(self, rule: str, message: str) -> None:
        self.findings.append(Finding(rule, "error", message))

    def finish(self) -> list[Decision]:
        """Record the overrides no rule proposed, and return every decision."""
        for key, (value, source) in self.overrides.items():
            if key not in self.decisions:
                self.decisions[key] = Decision(key, value, "K-OVERRIDE", f"set by the {source}", source)
        for key, (value, why) in self.fitted.items():  # the ladder's own keys no rule proposes
            if key not in self.decisions:
                self.decisions[key] = Decision(key, value, "K-VRAM", why)
        return list(self.decisions.values())
