"""The answers vocabulary (kohyawiz/vocabulary.py) against every face: the command line, the
wizard's state and the kohya_ss import. A new answer fails here until each face takes it, or
says why it does not."""

from __future__ import annotations

from typing import Any, get_args

import pytest

from kohyawiz import answers as answers_module
from kohyawiz.vocabulary import ANSWERS, NOT_ASKED, Answer

FACES = ("cli", "wizard", "import")


def _at(tree: dict[str, Any], path: tuple[str, ...]) -> Any:
    for part in path:
        tree = tree.get(part, {}) if isinstance(tree, dict) else {}
    return tree if tree != {} else None


def _faces(answer: Answer) -> set[str]:
    return {face for face, has in zip(FACES, (answer.flag, answer.state, answer.gui), strict=True) if has}


def test_every_answer_is_declared_or_said_where_it_comes_from():
    fields = set(answers_module.Answers.model_fields) - {"model"}
    fields |= {f"model.{name}" for name in answers_module.ModelAnswers.model_fields}
    declared = {".".join(a.path) for a in ANSWERS}
    assert len(declared) == len(ANSWERS)
    assert fields - declared - set(NOT_ASKED) == set(), "answers no face takes and nothing explains"
    assert (declared | set(NOT_ASKED)) - fields == set(), "declared answers Answers does not have"
    assert not declared & set(NOT_ASKED)


def test_choices_are_the_answers_own():
    from kohyawiz.families import SPECS

    literal = {
        ("subject",): answers_module.Subject, ("network",): answers_module.Network,
        ("optimizer",): answers_module.Optimizer, ("precision",): answers_module.Precision,
        ("model", "family"): answers_module.Family, ("model", "tags"): answers_module.TagStyle,
        ("lokr_size",): answers_module.Answers.model_fields["lokr_size"].annotation,
    }  # fmt: skip
    choices = {a.path: a.choices for a in ANSWERS if a.kind == "choice"}
    assert set(choices) == set(literal)
    for path, kind in literal.items():
        assert choices[path] == get_args(kind), path
    assert choices[("model", "family")] == tuple(SPECS)


@pytest.mark.parametrize("answer", ANSWERS, ids=lambda a: ".".join(a.path))
def test_each_face_takes_the_answer_or_says_why_not(answer):
    unasked = dict(answer.unasked)
    assert set(unasked) <= set(FACES) and all(unasked.values())
    assert _faces(answer) == set(FACES) - set(unasked), "a face lacks this answer and does not say why"
    assert answer.sample is not None


@pytest.mark.parametrize("answer", [a for a in ANSWERS if a.flag], ids=lambda a: a.flag)
def test_the_command_line_takes_it(answer):
    from kohyawiz.cli import build_parser
    from kohyawiz.cli.plan_cmd import answers_from_flags

    given = {"switch": [answer.flag], "toggle": [answer.flag if answer.sample else f"--no-{answer.flag[2:]}"]}
    argv = given.get(answer.kind, [answer.flag, str(answer.sample)])
    args = build_parser().parse_args(["plan", *argv, "--out", "x"])
    assert _at(answers_from_flags(args), answer.path) == answer.sample


@pytest.mark.parametrize("answer", [a for a in ANSWERS if a.state], ids=lambda a: a.state)
def test_the_wizard_state_takes_it_both_ways(answer):
    from kohyawiz.tui.state import WizardState

    state = WizardState()
    setattr(state, answer.state, answer.sample)
    given = state.answers()
    assert _at(given, answer.path) == answer.sample
    back = WizardState.from_answers(given)
    assert getattr(back, answer.state) == answer.sample


@pytest.mark.parametrize("answer", [a for a in ANSWERS if a.gui], ids=lambda a: ".".join(a.path))
def test_a_kohya_ss_import_takes_it(answer):
    from kohyawiz.interop.kohya import import_settings

    assert answer.gui is not None
    fragment, expected = answer.gui
    imported = import_settings({"LoRA_type": "Standard", **fragment}, "gui.json")
    assert _at(imported.answers, answer.path) == expected
