"""One or more tests per rule id: each test names the rule it checks."""

from __future__ import annotations

import pytest
from conftest import plan_for

from kohyawiz.errors import UserError


def rules_of(plan, level=None):
    return {f.rule for f in plan.findings if level is None or f.level == level}


def test_T_FAMILY_picks_script_and_flags(tmp_path):
    sd1 = plan_for(tmp_path)
    assert sd1.script == "train_network.py" and sd1.value("v2") is None
    sd2 = plan_for(tmp_path, model={"family": "sd2", "vpred": True})
    assert sd2.value("v2") is True and sd2.value("v_parameterization") is True
    xl = plan_for(tmp_path, model={"family": "sdxl"})
    assert xl.script == "sdxl_train_network.py" and xl.decision("script").rule == "T-FAMILY"


def test_T_CLIPSKIP_by_ancestry(tmp_path):
    assert plan_for(tmp_path, model={"tags": "booru"}).value("clip_skip") == 2
    assert plan_for(tmp_path, model={"tags": "natural"}).value("clip_skip") == 1
    assert plan_for(tmp_path, model={"tags": "e6"}).value("clip_skip") == 1
    assert plan_for(tmp_path, model={"tags": "booru", "clip_skip": 1}).value("clip_skip") == 1
    xl = plan_for(tmp_path, model={"family": "sdxl", "tags": "booru"})
    assert xl.value("clip_skip") is None and xl.decision("clip_skip").rule == "T-CLIPSKIP"


def test_T_ZSNR_flag_and_warning_without_vpred(tmp_path):
    plan = plan_for(tmp_path, model={"zsnr": True, "vpred": True})
    assert plan.value("zero_terminal_snr") is True
    assert plan.value("scale_v_pred_loss_like_noise_pred") is None
    assert "T-ZSNR" not in rules_of(plan, "warn")
    assert "T-ZSNR" in rules_of(plan_for(tmp_path, model={"zsnr": True}), "warn")


def test_T_PASSES_about_100_passes_in_epochs(tmp_path):
    plan = plan_for(tmp_path)
    assert plan.value("max_train_epochs") == 100
    assert plan.figures.concepts[0].passes_per_image == 100
    assert plan.value("max_train_steps") is None


def test_T_PASSES_uses_folder_repeats(tmp_path):
    plan = plan_for(tmp_path, concepts=[{"name": "x", "images": 30, "folder_repeats": 10}])
    assert plan.value("max_train_epochs") == 10
    assert plan.figures.concepts[0].passes_per_image == 100


def test_L_STYLE_styles_get_35_passes_and_lycoris(tmp_path):
    plan = plan_for(tmp_path, subject="style", concepts=[{"name": "st", "images": 150}])
    assert plan.value("max_train_epochs") == 35
    assert plan.value("network") == "locon"
    assert plan.value("network_dim") <= 32
    wide = plan_for(tmp_path, subject="style", concepts=[{"name": "st", "images": 150}], overrides={"network_dim": 64})
    assert "L-STYLE" in rules_of(wide, "warn")


def test_T_SAVE_about_ten_checkpoints(tmp_path):
    assert plan_for(tmp_path).value("save_every_n_epochs") == 10
    ten = plan_for(tmp_path, concepts=[{"name": "x", "images": 30, "folder_repeats": 10}])
    assert ten.value("save_every_n_epochs") == 1


def test_T_BATCH_one_and_warns_above_four(tmp_path):
    assert plan_for(tmp_path).value("train_batch_size") == 1
    big = plan_for(tmp_path, overrides={"train_batch_size": "6"})
    assert big.value("train_batch_size") == 6 and "T-BATCH" in rules_of(big, "warn")


def test_T_PRECISION_matches_and_defaults_to_fp16(tmp_path):
    plan = plan_for(tmp_path)
    assert plan.value("mixed_precision") == plan.value("save_precision") == "fp16"
    fast = plan_for(tmp_path, precision="bf16")
    assert fast.value("mixed_precision") == fast.value("save_precision") == "bf16"
    assert plan.value("full_fp16") is None and plan.value("full_bf16") is None
    assert plan_for(tmp_path, model={"family": "sdxl"}).value("no_half_vae") is True


def test_T_CACHE_to_disk_when_short(tmp_path):
    roomy = plan_for(tmp_path, vram_gb=16)
    assert roomy.value("cache_latents") is True and roomy.value("cache_latents_to_disk") is None
    assert plan_for(tmp_path, vram_gb=6).value("cache_latents_to_disk") is True
    xl_small = plan_for(tmp_path, vram_gb=10, model={"family": "sdxl"})
    assert xl_small.value("cache_text_encoder_outputs") is True
    assert xl_small.value("network_train_unet_only") is True


def test_T_OPT_adaptive_and_adam(tmp_path):
    prodigy = plan_for(tmp_path)
    assert prodigy.value("optimizer_type") == "Prodigy"
    assert prodigy.value("learning_rate") == 1.0 and prodigy.value("lr_scheduler") == "cosine"
    assert prodigy.value("optimizer_args") == ["decouple=True", "weight_decay=0.1", "betas=0.9,0.99"]
    adam = plan_for(tmp_path, optimizer="adamw8bit")
    assert adam.value("optimizer_type") == "AdamW8bit"
    assert adam.value("lr_scheduler") == "cosine_with_restarts"
    assert adam.value("optimizer_args") is None and adam.value("gradient_checkpointing") is True
    assert plan_for(tmp_path, optimizer="dadaptadam").value("optimizer_type") == "DAdaptAdam"


def test_T_RES_by_family_card_and_native(tmp_path):
    assert plan_for(tmp_path).value("resolution") == "768,768"
    assert plan_for(tmp_path, vram_gb=6).value("resolution") == "512,512"
    assert plan_for(tmp_path, model={"family": "sdxl"}).value("resolution") == "1024,1024"
    assert plan_for(tmp_path, model={"native_resolution": 512}).value("resolution") == "512,512"
    plan = plan_for(tmp_path)
    assert plan.value("enable_bucket") is True and plan.value("max_bucket_reso") == 768


def test_T_RES_override_moves_bucket_limit(tmp_path):
    plan = plan_for(tmp_path, overrides={"resolution": "640"})
    assert plan.value("resolution") == "640" and plan.value("max_bucket_reso") == 640
    assert plan.decision("resolution").source == "user"


def test_T_RANK_32_alpha_1_with_prodigy(tmp_path):
    plan = plan_for(tmp_path)
    assert (plan.value("network_dim"), plan.value("network_alpha")) == (32, 1.0)
    assert plan_for(tmp_path, model={"knows_subject": True}).value("network_dim") == 8
    assert plan_for(tmp_path, optimizer="adamw").value("network_alpha") == 32.0
    assert "T-RANK" in rules_of(plan_for(tmp_path, overrides={"network_dim": 128}), "warn")


def test_T_CONV_locon_conv_16_alpha_1(tmp_path):
    plan = plan_for(tmp_path, network="locon")
    assert "conv_dim=16" in plan.value("network_args") and "conv_alpha=1.0" in plan.value("network_args")
    wide = plan_for(
        tmp_path, network="locon", overrides={"network_args": "algo=locon preset=full conv_dim=32 conv_alpha=1"}
    )
    assert "T-CONV" in rules_of(wide, "warn")


def test_T_NORMS_only_with_other_loras(tmp_path):
    assert plan_for(tmp_path).value("scale_weight_norms") is None
    assert plan_for(tmp_path, with_other_loras=True).value("scale_weight_norms") == 1.0


def test_T_DROPOUT_none(tmp_path):
    plan = plan_for(tmp_path)
    assert plan.value("network_dropout") is None and plan.decision("network_dropout").rule == "T-DROPOUT"


def test_T_SNR_settings(tmp_path):
    plan = plan_for(tmp_path)
    assert plan.value("min_snr_gamma") == 5.0 and plan.value("debiased_estimation_loss") is True
    assert plan.value("noise_offset") is None


def test_T_XATTN_sdpa_unless_xformers(tmp_path):
    assert plan_for(tmp_path).value("sdpa") is True
    plan = plan_for(tmp_path, attention="xformers")
    assert plan.value("xformers") is True and plan.value("sdpa") is None


def test_T_FLIP_and_D_ASYM(tmp_path):
    small = plan_for(tmp_path, concepts=[{"name": "x", "images": 20}])
    assert small.value("flip_aug") is True
    assert plan_for(tmp_path, concepts=[{"name": "x", "images": 40}]).value("flip_aug") is False
    asym = plan_for(tmp_path, concepts=[{"name": "x", "images": 20}], asymmetric=True)
    assert asym.value("flip_aug") is False and asym.decision("flip_aug").rule == "D-ASYM"
    multi = plan_for(tmp_path, concepts=[{"name": "a", "images": 20}, {"name": "b", "images": 10}])
    assert "T-FLIP" in rules_of(multi, "warn")


def test_T_LOADER_persistent_when_memory_allows(tmp_path):
    assert plan_for(tmp_path).value("persistent_data_loader_workers") is True
    assert plan_for(tmp_path, vram_gb=6).value("persistent_data_loader_workers") is None
    assert plan_for(tmp_path).value("max_data_loader_n_workers") >= 1


def test_T_GRADCKPT(tmp_path):
    assert plan_for(tmp_path).value("gradient_checkpointing") is None
    assert plan_for(tmp_path, vram_gb=6).value("gradient_checkpointing") is True
    assert plan_for(tmp_path, optimizer="adamw").value("gradient_checkpointing") is True


def test_T_BASE_merge_warns_and_path_recorded(tmp_path):
    plan = plan_for(tmp_path, model={"merge": True})
    assert "T-BASE" in rules_of(plan, "warn")
    assert plan.value("pretrained_model_name_or_path") == "/models/base.safetensors"


def test_T_FORMAT_safetensors_and_ckpt_warning(tmp_path):
    assert plan_for(tmp_path).value("save_model_as") == "safetensors"
    ckpt = plan_for(tmp_path, save_as="ckpt")
    assert ckpt.value("save_model_as") == "ckpt" and "T-FORMAT" in rules_of(ckpt, "warn")


def test_M_BALANCE_equal_passes_per_epoch(tmp_path):
    plan = plan_for(
        tmp_path, subject="clothing",
        concepts=[{"name": "c, a", "images": 40}, {"name": "c, b", "images": 20}, {"name": "c, d", "images": 13}],
    )  # fmt: skip
    repeats = {c.name: c.repeats for c in plan.concepts}
    assert repeats == {"c, a": 1, "c, b": 2, "c, d": 3}
    assert plan.decision("concepts.c, d.num_repeats").rule == "M-BALANCE"


def test_M_BALANCE_keeps_largest_folder_repeats(tmp_path):
    plan = plan_for(
        tmp_path,
        concepts=[{"name": "a", "images": 30, "folder_repeats": 2}, {"name": "b", "images": 10, "folder_repeats": 1}],
    )
    assert [c.repeats for c in plan.concepts] == [2, 6]
    assert plan.value("max_train_epochs") == 50


def test_M_BALANCE_explicit_repeats_win(tmp_path):
    plan = plan_for(tmp_path, concepts=[{"name": "a", "images": 30}, {"name": "b", "images": 10, "repeats": 2}])
    assert [c.repeats for c in plan.concepts] == [1, 2]
    assert plan.decision("concepts.b.num_repeats").source == "user"


def test_M_OVERBAKE_warns_for_tiny_concepts(tmp_path):
    plan = plan_for(tmp_path, concepts=[{"name": "a", "images": 40}, {"name": "b", "images": 8}])
    assert "M-OVERBAKE" in rules_of(plan, "warn")


def test_M_NAMES_outfits_need_their_own_second_tag(tmp_path):
    same = plan_for(
        tmp_path,
        concepts=[{"name": "a", "images": 30, "triggers": ["char"]}, {"name": "b", "images": 30, "triggers": ["char"]}],
    )
    assert "M-NAMES" in rules_of(same, "warn")
    good = plan_for(tmp_path, concepts=[{"name": "char, red", "images": 30}, {"name": "char, blue", "images": 30}])
    assert "M-NAMES" not in rules_of(good)


def test_M_SETTINGS_multi_concept_batch_and_rank(tmp_path):
    plan = plan_for(
        tmp_path, model={"knows_subject": True}, concepts=[{"name": "a", "images": 30}, {"name": "b", "images": 30}]
    )
    assert plan.value("train_batch_size") == 1 and plan.value("network_dim") == 32
    assert "M-SETTINGS" in rules_of(plan)


def test_L_PURPOSE_default_and_recommendation(tmp_path):
    assert plan_for(tmp_path).value("network") == "lora"
    plan = plan_for(tmp_path, network="diag-oft", subject="style", concepts=[{"name": "s", "images": 100}])
    assert plan.decision("network").rule == "L-PURPOSE" and "L-PURPOSE" in rules_of(plan)


def test_L_DEFAULT_lycoris_preset_per_family(tmp_path):
    sd1 = plan_for(tmp_path, network="locon")
    assert sd1.value("network_module") == "lycoris.kohya"
    assert f"preset={tmp_path / 'plan' / 'lycoris_preset.toml'}" in sd1.value("network_args")
    xl = plan_for(tmp_path, network="locon", model={"family": "sdxl"})
    assert "preset=full" in xl.value("network_args")


def test_L_LOCON_alpha_by_optimizer(tmp_path):
    assert plan_for(tmp_path, network="locon").value("network_alpha") == 1.0
    adam = plan_for(tmp_path, network="locon", optimizer="adamw")
    assert adam.value("network_dim") == 32 and adam.value("network_alpha") == 16.0


def test_L_LOHA_dim_at_most_32(tmp_path):
    plan = plan_for(tmp_path, network="loha")
    assert plan.value("network_dim") <= 32 and "algo=loha" in plan.value("network_args")


def test_L_LOKR_factor_by_size(tmp_path):
    assert "factor=-1" in plan_for(tmp_path, network="lokr").value("network_args")
    assert "factor=8" in plan_for(tmp_path, network="lokr", lokr_size="large").value("network_args")


def test_L_DYLORA_dim_accumulation_batch(tmp_path):
    plan = plan_for(tmp_path, network="dylora", optimizer="adamw")
    assert plan.value("network_module") == "networks.dylora"
    assert plan.value("network_dim") == 128 and plan.value("network_alpha") == 64.0
    assert plan.value("gradient_accumulation_steps") > 1 and plan.value("train_batch_size") == 1
    assert plan.figures.steps_per_epoch == -(-30 // plan.value("gradient_accumulation_steps"))


def test_L_IA3_high_learning_rate_with_adam(tmp_path):
    assert plan_for(tmp_path, network="ia3", optimizer="adamw").value("learning_rate") == 5e-3
    assert plan_for(tmp_path, network="ia3").value("learning_rate") == 1.0


def test_D_COUNT_ranges(tmp_path):
    assert "D-COUNT" in rules_of(plan_for(tmp_path, concepts=[{"name": "x", "images": 5}]), "warn")
    assert "D-COUNT" in rules_of(plan_for(tmp_path, concepts=[{"name": "x", "images": 12}]), "warn")
    assert "D-COUNT" not in rules_of(plan_for(tmp_path, concepts=[{"name": "x", "images": 30}]))
    assert "D-COUNT" in rules_of(plan_for(tmp_path, subject="style", concepts=[{"name": "x", "images": 30}]), "warn")


def test_D_CAPTION_extension_is_explicit(tmp_path):
    plan = plan_for(tmp_path)
    assert plan.value("caption_extension") == ".txt"


def test_user_override_beats_rule_and_is_recorded(tmp_path):
    plan = plan_for(tmp_path, overrides={"network_dim": "16", "flip_aug": "true"})
    decision = plan.decision("network_dim")
    assert decision.value == 16 and decision.source == "user" and decision.rule == "T-RANK"
    assert plan.value("flip_aug") is True


def test_preset_override_source(tmp_path):
    plan = plan_for(tmp_path, preset_overrides={"network_dim": 16}, overrides={"min_snr_gamma": "3"})
    assert plan.decision("network_dim").source == "preset"
    assert plan.decision("min_snr_gamma").value == 3.0 and plan.decision("min_snr_gamma").source == "user"


@pytest.mark.parametrize(
    ("overrides", "fragment"),
    [
        ({"network_dimm": "16"}, "did you mean network_dim"),
        ({"mixed_precision": "fp32"}, "is not one of"),
        ({"train_batch_size": "two"}, "takes a int"),
        ({"dataset_config": "x.toml"}, "cannot be overridden"),
        ({"resolution": "big"}, "must be 'N' or 'W,H'"),
        ({"cache_latents": "maybe"}, "is a switch"),
    ],
)
def test_bad_overrides_are_clear_errors(tmp_path, overrides, fragment):
    with pytest.raises(UserError, match=fragment):
        plan_for(tmp_path, overrides=overrides)


def test_unknown_key_checked_per_version(tmp_path):
    # validation_split exists on main only.
    plan_for(tmp_path, overrides={"validation_split": "0.1"})
    with pytest.raises(UserError, match=r"v0\.9\.1"):
        plan_for(tmp_path, overrides={"validation_split": "0.1"}, sd_scripts_version="v0.9.1")


@pytest.mark.parametrize(
    ("network", "overrides", "fragment"),
    [
        ("locon", {"network_args": "algo=locon preset=full conv_dims=4"}, "conv_dims is not read"),
        ("lokr", {"network_args": "algo=lokr preset=full decompose_both=False"}, "leave it out"),
        ("locon", {"network_args": "algo=locon preset=full use_tucker=0"}, "True or False"),
        ("locon", {"network_args": "algo=oft"}, "not an algorithm"),
        ("lora", {"network_args": "factor=4"}, "factor is not read by networks.lora"),
        ("boft", {"network_dim": "8"}, "BOFT needs network_dim 16"),
        ("dylora", {"network_dim": "30"}, "multiple of unit=4"),
    ],
)
def test_L_DEFAULT_network_args_the_module_would_ignore_are_refused(tmp_path, network, overrides, fragment):
    with pytest.raises(UserError, match=fragment):
        plan_for(tmp_path, network=network, overrides=overrides)


def test_L_LOKR_never_emits_false_flags(tmp_path):
    for network in ("locon", "loha", "lokr", "glora", "ia3", "diag-oft", "boft", "full"):
        args = plan_for(tmp_path, network=network).value("network_args")
        assert not any(a.startswith("decompose_both") for a in args)
        assert not any(a.endswith(("=0", "=1")) and a.split("=")[0] in ("use_tucker", "use_scalar") for a in args)


def test_L_LOCON_network_options_merge_and_are_checked(tmp_path):
    plan = plan_for(tmp_path, network="locon", network_options={"conv_dim": 8, "use_tucker": True})
    args = plan.value("network_args")
    assert "conv_dim=8" in args and "use_tucker=True" in args and "algo=locon" in args
    assert plan.decision("network_args").source == "user"
    kohya_locon = plan_for(tmp_path, network="lora", network_options={"conv_dim": 16, "conv_alpha": 8})
    assert kohya_locon.value("network_args") == ["conv_dim=16", "conv_alpha=8.0"]
    with pytest.raises(UserError, match="factor is not read"):
        plan_for(tmp_path, network="locon", network_options={"factor": 4})


def test_K_LYCORIS_sets_what_the_library_fixes_for_oft_boft_and_full(tmp_path):
    oft = plan_for(tmp_path, network="diag-oft")
    assert (oft.value("network_dim"), oft.decision("network_dim").rule) == (32, "K-LYCORIS")
    assert oft.decision("network_args").rule == "K-LYCORIS" and "algo=diag-oft" in oft.value("network_args")
    full = plan_for(tmp_path, network="full", vram_gb=80)
    assert (full.value("network_dim"), full.decision("network_dim").rule) == (1, "K-LYCORIS")
    assert any(f.rule == "K-LYCORIS" and "very large files" in f.message for f in full.findings)
    locon = plan_for(tmp_path, network="locon")
    assert locon.decision("network_dim").rule != "K-LYCORIS"  # only the algorithms the guide leaves to the library


def test_K_NETARGS_merges_network_options_over_the_rules_list(tmp_path):
    plan = plan_for(tmp_path, network="locon", network_options={"conv_dim": 8, "dora_wd": True})
    args = plan.value("network_args")
    decided = plan.decision("network_args")
    assert (decided.rule, decided.source) == ("K-NETARGS", "user") and "L-LOCON's" in decided.reason
    assert "conv_dim=8" in args and "dora_wd=True" in args and "algo=locon" in args


def test_every_step_that_decides_is_a_registered_rule_run_in_order():
    """No hook beside the registry: apply_rules runs REGISTRY in ORDER and nothing else, and every
    id has a meaning in the one catalog every face reads."""
    import inspect

    from kohyawiz.catalog import meaning
    from kohyawiz.rules import ORDER, REGISTRY, apply_rules

    assert sorted(ORDER) == sorted(REGISTRY) and len(set(ORDER)) == len(ORDER)
    body = inspect.getsource(apply_rules)
    assert "rule_id ==" not in body and "network." not in body
    assert [rule_id for rule_id in ORDER if meaning(rule_id) is None] == []
    assert meaning("K-LYCORIS") == (
        "K-LYCORIS: diag-oft, boft and full: dim, alpha and network_args as the LyCORIS library fixes them (kohyawiz)"
    )


def test_T_PASSES_a_steps_override_counts_the_passes_the_steps_make(tmp_path):
    """30 steps of batch 1 over 4 images x 10 repeats stop inside the first epoch: 7.5 passes, not 10."""
    plan = plan_for(tmp_path, concepts=[{"name": "x", "images": 4, "folder_repeats": 10}],
                    overrides={"max_train_steps": 30, "train_batch_size": 1})  # fmt: skip
    assert plan.figures.total_steps == 30 and plan.figures.batch_size == 1
    assert plan.figures.concepts[0].passes_per_image == round(30 * 10 / 40)
    by_epochs = plan_for(tmp_path, concepts=[{"name": "x", "images": 4, "folder_repeats": 10}])
    assert by_epochs.figures.concepts[0].passes_per_image == 10 * by_epochs.figures.epochs
