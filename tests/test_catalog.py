"""Every rule id of RULES.md is known, has code, and is named by a test."""

from __future__ import annotations

import re

from conftest import REPO

from kohyawiz.rules import REGISTRY
from kohyawiz.rules.catalog import CATALOG


def test_catalog_matches_rules_md(shared) -> None:
    text = (shared / "guide" / "RULES.md").read_text()
    ids = set(re.findall(r"^\| ([A-Z]-[A-Z0-9]+) \|", text, flags=re.M))
    assert ids == set(CATALOG)


def test_every_planning_rule_has_a_registered_function() -> None:
    planning = {r for r in CATALOG if r[0] in "TML"}
    assert planning <= set(REGISTRY)


def test_every_rule_id_is_named_by_a_test() -> None:
    tests_text = "".join(p.read_text() for p in (REPO / "tests").glob("test_*.py") if p.name != "test_catalog.py")
    unnamed = [r for r in CATALOG if r not in tests_text and r.replace("-", "_") not in tests_text]
    assert not unnamed, f"rule ids without a test: {unnamed}"


def test_every_id_of_the_core_catalog_is_named_by_a_test() -> None:
    """kohyawiz's own ids (K-*, F-*, C-*) as well as the guide's: every one has a test that names it."""
    from kohyawiz.catalog import rule_catalog

    tests_text = "".join(p.read_text() for p in (REPO / "tests").glob("test_*.py") if p.name != "test_catalog.py")
    unnamed = [r for r in rule_catalog() if r not in tests_text and r.replace("-", "_") not in tests_text]
    assert not unnamed, f"ids without a test: {unnamed}"
