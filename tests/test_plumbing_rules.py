"""kohyawiz's own plumbing rules, each named: K-OUTPUT, K-SAMPLES, K-RESUME, K-OVERRIDE."""

from __future__ import annotations

from conftest import plan_for


def test_K_OUTPUT_beside_the_plan_named_after_the_first_trigger(tmp_path):
    plan = plan_for(tmp_path, concepts=[{"name": "hmbrgr, red", "images": 20}])
    assert plan.value("output_dir") == str(tmp_path / "plan" / "output")
    assert plan.value("output_name") == "hmbrgr_red" and plan.decision("output_name").rule == "K-OUTPUT"


def test_K_SAMPLES_follow_the_checkpoints_by_epochs_or_by_steps(tmp_path):
    assert plan_for(tmp_path / "none").value("sample_prompts") is None
    by_epochs = plan_for(tmp_path / "e", samples=True)
    assert by_epochs.decision("sample_every_n_epochs").rule == "K-SAMPLES"
    assert by_epochs.value("sample_every_n_epochs") == by_epochs.value("save_every_n_epochs")
    by_steps = plan_for(tmp_path / "s", samples=True, overrides={"max_train_steps": 30})
    assert by_steps.value("sample_every_n_steps") == by_steps.value("save_every_n_steps") is not None
    assert by_steps.value("sample_every_n_epochs") is None and by_steps.decision("sample_every_n_steps").rule == "K-SAMPLES"


def test_K_RESUME_saves_state_only_when_asked(tmp_path):
    assert plan_for(tmp_path / "no").value("save_state") is None
    asked = plan_for(tmp_path / "yes", save_state=True)
    assert asked.value("save_state") is True and asked.decision("save_state").rule == "K-RESUME"


def test_K_OVERRIDE_a_setting_no_rule_decides(tmp_path):
    plan = plan_for(tmp_path, overrides={"max_grad_norm": 0.5})
    decision = plan.decision("max_grad_norm")
    assert plan.value("max_grad_norm") == 0.5 and decision.rule == "K-OVERRIDE" and decision.source == "user"
