"""The guide's targets (T-PASSES, T-SAVE, M-BALANCE) hold under any folder repeats."""

from __future__ import annotations

from conftest import plan_for
from hypothesis import given
from hypothesis import strategies as st

from kohyawiz.rules.schedule import checkpoints, nearest


def saved_models(plan) -> int:
    by_steps = plan.value("save_every_n_steps")
    if by_steps:
        return -(-plan.figures.total_steps // by_steps)
    every = plan.value("save_every_n_epochs")
    return checkpoints(plan.figures.epochs, every) if every else 1


def test_nearest_rounds_halves_up_unlike_round():
    assert [nearest(x) for x in (0.5, 1.5, 2.5, 3.49, 3.5)] == [1, 2, 3, 3, 4]
    assert round(2.5) == 2


def test_T_PASSES_150_folder_gets_num_repeats_not_one_epoch(tmp_path):
    plan = plan_for(tmp_path, concepts=[{"name": "x", "images": 30, "folder_repeats": 150}])
    repeats = plan.decision("concepts.x.num_repeats")
    assert repeats.value == 10 and repeats.rule == "T-PASSES" and "not renamed" in repeats.reason
    assert plan.figures.concepts[0].passes_per_image == 100
    assert plan.value("max_train_epochs") == 10 and saved_models(plan) == 10


def test_T_PASSES_style_in_20_folder_gets_about_10_checkpoints(tmp_path):
    plan = plan_for(tmp_path, subject="style", concepts=[{"name": "s", "images": 60, "folder_repeats": 20}])
    passes = plan.figures.concepts[0].passes_per_image
    assert abs(passes - 35) <= 0.15 * 35
    assert 7 <= saved_models(plan) <= 14


def test_T_PASSES_keeps_a_folder_that_reaches_the_targets(tmp_path):
    plan = plan_for(tmp_path, concepts=[{"name": "x", "images": 30, "folder_repeats": 10}])
    assert plan.decision("concepts.x.num_repeats").rule == "M-BALANCE"
    assert plan.value("max_train_epochs") == 10


def test_T_PASSES_explicit_repeats_are_kept_and_warned(tmp_path):
    plan = plan_for(tmp_path, concepts=[{"name": "x", "images": 30, "repeats": 150}])
    assert plan.figures.concepts[0].repeats == 150
    assert any(f.rule == "T-PASSES" and f.level == "warn" for f in plan.findings)


def test_T_SAVE_counts_checkpoints_by_steps_when_epochs_are_set_too_few(tmp_path):
    plan = plan_for(tmp_path, overrides={"max_train_epochs": 2})
    assert plan.value("save_every_n_steps") == 6 and plan.decision("save_every_n_steps").rule == "T-SAVE"
    assert plan.value("save_every_n_epochs") is None
    assert saved_models(plan) == 10


def test_T_SAVE_follows_a_max_train_steps_override_by_steps(tmp_path):
    """Issue 22: 30 steps over 4 images used to keep save_every_n_epochs = 10, so only the final
    LoRA was saved; a run counted in steps saves by steps."""
    plan = plan_for(tmp_path, concepts=[{"name": "x", "images": 4, "repeats": 1}], overrides={"max_train_steps": 30})
    assert plan.figures.total_steps == 30 and plan.figures.epochs == 8
    assert plan.value("save_every_n_epochs") is None and plan.value("max_train_epochs") is None
    decision = plan.decision("save_every_n_steps")
    assert decision.value == 3 and decision.rule == "T-SAVE" and "max_train_steps 30" in decision.reason
    assert saved_models(plan) == 10


def test_T_SAVE_keeps_a_hand_set_epoch_cadence(tmp_path):
    plan = plan_for(tmp_path, overrides={"max_train_epochs": 3, "save_every_n_epochs": 1})
    assert plan.value("save_every_n_epochs") == 1 and plan.value("save_every_n_steps") is None


def test_T_SAVE_samples_follow_a_step_cadence(tmp_path):
    plan = plan_for(tmp_path, samples=True, overrides={"max_train_steps": 50})
    assert plan.value("sample_every_n_steps") == plan.value("save_every_n_steps") == 5
    assert plan.value("sample_every_n_epochs") is None


def test_T_SAVE_cadence_nearest_ten():
    from kohyawiz.rules.schedule import save_cadence

    assert save_cadence(10) == 1 and save_cadence(100) == 10 and save_cadence(33) == 3


@given(
    folder=st.integers(1, 500),
    images=st.integers(1, 200),
    subject=st.sampled_from(["character", "style", "concept"]),
)
def test_T_PASSES_and_T_SAVE_hold_for_any_folder_repeats(tmp_path_factory, folder, images, subject):
    tmp = tmp_path_factory.mktemp("p")
    plan = plan_for(tmp, subject=subject, concepts=[{"name": "x", "images": images, "folder_repeats": folder}])
    target = 35 if subject == "style" else 100
    assert abs(plan.figures.concepts[0].passes_per_image - target) <= 0.15 * target
    assert 7 <= saved_models(plan) <= 14


@given(small=st.integers(1, 40), folder=st.integers(1, 300))
def test_M_BALANCE_keeps_balance_when_repeats_are_rechosen(tmp_path_factory, small, folder):
    tmp = tmp_path_factory.mktemp("m")
    concepts = [{"name": "a", "images": 40, "folder_repeats": folder}, {"name": "b", "images": small, "folder_repeats": 1}]
    plan = plan_for(tmp, concepts=concepts)
    a, b = plan.figures.concepts
    assert abs(a.passes_per_image - 100) <= 15
    assert b.repeats == max(1, nearest(40 * a.repeats / small))
