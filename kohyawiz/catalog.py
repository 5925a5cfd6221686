"""What every id a plan cites means, for every face: the guide's rules (RULES.md), kohyawiz's
own (K-*), the model families' (F-*, from sd-scripts' docs) and sd-scripts' run-time constraints
(C-*). `kohyawiz explain` prints it; the wizard's review says what the id of a setting means."""

from __future__ import annotations

from functools import cache


@cache
def rule_catalog() -> dict[str, tuple[str, str]]:
    """Every id a plan can cite: (where it comes from, what it says)."""
    from kohyawiz.constraints import ORDER, REGISTRY
    from kohyawiz.rules.base import OWN_RULES
    from kohyawiz.rules.catalog import CATALOG
    from kohyawiz.rules.families import FAMILY_RULES

    out = {rule_id: (f"guide part {part}", text) for rule_id, (part, text) in CATALOG.items()}
    out.update({rule_id: ("kohyawiz", text) for rule_id, text in OWN_RULES.items()})
    out.update({rule_id: (f"sd-scripts {doc}", text) for rule_id, (doc, text) in FAMILY_RULES.items()})
    out.update({cid: (f"sd-scripts {REGISTRY[cid].where}", REGISTRY[cid].summary) for cid in ORDER})
    return out


def meaning(rule_id: str) -> str | None:
    """One line on what `rule_id` says and where it comes from, or None for an unknown id."""
    found = rule_catalog().get(rule_id)
    return f"{rule_id}: {found[1]} ({found[0]})" if found else None
