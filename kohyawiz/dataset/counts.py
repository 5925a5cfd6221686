"""D-COUNT: how many images a concept has against what the guide asks (part 1).

The dataset doctor reports it per concept folder; the planner's D-COUNT rule (rules/schedule.py)
reports it for the counts it plans with.
"""

from __future__ import annotations

from kohyawiz.decisions import Finding


def count_findings(subject: str, name: str, n: int) -> list[Finding]:
    """D-COUNT for one concept; shared by the planner and the dataset doctor."""
    if subject == "style":
        if n < 50:
            return [Finding("D-COUNT", "warn", f"{name!r}: {n} images; styles want 50-200 (125-150 is ideal)")]
        if n > 200:
            return [Finding("D-COUNT", "info", f"{name!r}: {n} images; more than 200 is rarely needed for a style")]
        return []
    if n < 8:
        return [Finding("D-COUNT", "warn", f"{name!r}: only {n} images, below the working minimum of 8")]
    if n < 15:
        return [Finding("D-COUNT", "warn", f"{name!r}: {n} images; fewer than 15 makes training hard (30 is ideal)")]
    if n > 50:
        return [Finding("D-COUNT", "info", f"{name!r}: {n} images; more than 50 is rarely needed")]
    return []
