"""The guide's caps and cautions fire whatever the source of a value: a rule, a preset, an
import or --set."""

from __future__ import annotations

import pytest
from conftest import plan_for


def warns(plan, rule_id, text=""):
    return any(f.rule == rule_id and f.level == "warn" and text in f.message for f in plan.findings)


@pytest.mark.parametrize("source", ["user", "preset"])
def test_T_FORMAT_ckpt_warns_from_any_source(tmp_path, source):
    changes = {"overrides": {"save_model_as": "ckpt"}} if source == "user" else {"preset_overrides": {"save_model_as": "ckpt"}}
    assert warns(plan_for(tmp_path, **changes), "T-FORMAT", "run code")
    assert warns(plan_for(tmp_path, save_as="ckpt"), "T-FORMAT")
    assert not warns(plan_for(tmp_path), "T-FORMAT")


def test_L_LOCON_and_L_LOHA_rank_caps_hold_for_set_values(tmp_path):
    assert warns(plan_for(tmp_path, network="locon", overrides={"network_dim": 128}), "L-LOCON", "64 at most")
    assert warns(plan_for(tmp_path, network="loha", preset_overrides={"network_dim": 64}), "L-LOHA", "32 at most")
    assert not warns(plan_for(tmp_path, network="loha"), "L-LOHA")


def test_T_RANK_cap_holds_for_a_preset_value(tmp_path):
    assert warns(plan_for(tmp_path, preset_overrides={"network_dim": 256}), "T-RANK", "overkill")


def test_T_BATCH_cap_holds_for_a_preset_value(tmp_path):
    assert warns(plan_for(tmp_path, preset_overrides={"train_batch_size": 8}), "T-BATCH", "above 4")


def test_T_PRECISION_full_half_and_mismatched_save(tmp_path):
    assert warns(plan_for(tmp_path, overrides={"full_fp16": True}), "T-PRECISION", "trains worse")
    assert warns(plan_for(tmp_path, overrides={"save_precision": "float"}), "T-PRECISION", "keep them alike")


def test_T_SNR_noise_offset_and_gamma(tmp_path):
    assert warns(plan_for(tmp_path, overrides={"noise_offset": 0.1}), "T-SNR", "without noise offset")
    assert warns(plan_for(tmp_path, overrides={"min_snr_gamma": 50}), "T-SNR", "known good")


def test_T_DROPOUT_from_set_or_network_options(tmp_path):
    assert warns(plan_for(tmp_path, overrides={"network_dropout": 0.1}), "T-DROPOUT")
    assert warns(plan_for(tmp_path, network_options={"rank_dropout": 0.1}), "T-DROPOUT")
    assert not warns(plan_for(tmp_path), "T-DROPOUT")


def test_T_OPT_adaptive_learning_rate(tmp_path):
    assert warns(plan_for(tmp_path, overrides={"learning_rate": 0.5}), "T-OPT", "lr 1")


def test_T_PASSES_warns_for_epochs_set_by_hand(tmp_path):
    assert warns(plan_for(tmp_path, overrides={"max_train_epochs": 300}), "T-PASSES", "300 passes")


def test_every_cap_is_registered_under_the_rule_it_holds():
    from kohyawiz.catalog import meaning
    from kohyawiz.rules import REGISTRY
    from kohyawiz.rules.cautions import CAUTIONS

    assert set(CAUTIONS) == {"T-FORMAT", "T-RANK", "T-PRECISION", "T-SNR", "T-DROPOUT", "T-OPT"}
    assert set(CAUTIONS) <= set(REGISTRY) and all(meaning(rule_id) for rule_id in CAUTIONS)
