"""sd-scripts' run-time rules (C- ids): each test names the constraint it checks.

The outcomes: a rule's value gives way (recorded with the constraint), an explicit value is kept
with a warning, or the plan is refused in one line when sd-scripts would stop on it.
"""

from __future__ import annotations

import tomllib

import pytest
from conftest import plan_for

from kohyawiz.constraints import ORDER, REGISTRY
from kohyawiz.constraints.base import sweep_file
from kohyawiz.errors import UserError


def warned(plan, cid):
    return [f.message for f in plan.findings if f.rule == cid and f.level == "warn"]


def refused(tmp_path, cid, **changes):
    with pytest.raises(UserError) as caught:
        plan_for(tmp_path, **changes)
    message = str(caught.value)
    assert message.startswith(cid + ":"), message
    assert "\n" not in message
    return message


def test_sweep_lists_every_constraint_and_only_known_ones():
    sweep = tomllib.loads(sweep_file().read_text())
    covered = {f["covered_by"] for f in sweep["found"] if f["covered_by"].startswith("C-")}
    assert covered == set(REGISTRY) == set(ORDER)
    assert all(f["kind"] in ("stop", "off", "warn") for f in sweep["found"])


def test_C_LOADER_persistent_workers_give_way_to_zero_workers(tmp_path):
    plan = plan_for(tmp_path, overrides={"max_data_loader_n_workers": 0})
    assert plan.value("persistent_data_loader_workers") is None
    assert plan.decision("persistent_data_loader_workers").rule == "C-LOADER"
    assert plan.value("max_data_loader_n_workers") == 0
    message = refused(
        tmp_path, "C-LOADER", overrides={"max_data_loader_n_workers": 0, "persistent_data_loader_workers": True}
    )
    assert "max_data_loader_n_workers=1" in message


def test_C_CACHE_AUG_caching_gives_way_to_color_aug(tmp_path):
    plan = plan_for(tmp_path, overrides={"color_aug": True}, vram_gb=6)
    assert plan.value("cache_latents") is None and plan.value("cache_latents_to_disk") is None
    assert plan.decision("cache_latents").rule == "C-CACHE-AUG"
    assert plan.value("color_aug") is True
    refused(tmp_path, "C-CACHE-AUG", overrides={"random_crop": True, "cache_latents": True})


def test_C_CACHE_DISK_disk_cache_turns_cache_on(tmp_path):
    plan = plan_for(tmp_path, overrides={"cache_latents": False}, vram_gb=6)
    assert plan.value("cache_latents_to_disk") is None
    assert plan.decision("cache_latents_to_disk").rule == "C-CACHE-DISK"
    kept = plan_for(tmp_path, overrides={"cache_latents": False, "cache_latents_to_disk": True})
    assert warned(kept, "C-CACHE-DISK")


def test_C_TECACHE_CAPTIONS_and_TRAIN_on_sdxl(tmp_path):
    xl = {"model": {"family": "sdxl"}, "vram_gb": 8}
    base = plan_for(tmp_path, **xl)
    assert base.value("cache_text_encoder_outputs") is True and base.value("network_train_unet_only") is True
    shuffled = plan_for(tmp_path, overrides={"shuffle_caption": True}, **xl)
    assert shuffled.value("cache_text_encoder_outputs") is None
    assert shuffled.decision("cache_text_encoder_outputs").rule == "C-TECACHE-CAPTIONS"
    assert shuffled.value("network_train_unet_only") is None
    refused(tmp_path, "C-TECACHE-CAPTIONS", overrides={"caption_dropout_rate": 0.1, "cache_text_encoder_outputs": True}, **xl)
    trained = plan_for(tmp_path, overrides={"network_train_unet_only": False}, **xl)
    assert trained.value("cache_text_encoder_outputs") is None
    assert trained.decision("cache_text_encoder_outputs").rule == "C-TECACHE-TRAIN"
    big = {"model": {"family": "sdxl"}, "vram_gb": 48}
    added = plan_for(tmp_path, overrides={"cache_text_encoder_outputs": True}, **big)
    assert added.value("network_train_unet_only") is True
    assert added.decision("network_train_unet_only").rule == "C-TECACHE-TRAIN"


def test_C_TECACHE_DISK_turns_caching_on(tmp_path):
    plan = plan_for(
        tmp_path, model={"family": "sdxl"}, vram_gb=48,
        overrides={"cache_text_encoder_outputs": False, "cache_text_encoder_outputs_to_disk": True},
    )  # fmt: skip
    assert warned(plan, "C-TECACHE-DISK")


def test_C_FULL_HALF_mixed_precision_follows(tmp_path):
    plan = plan_for(tmp_path, overrides={"full_bf16": True})
    assert plan.value("mixed_precision") == "bf16" and plan.decision("mixed_precision").rule == "C-FULL-HALF"
    assert plan.value("save_precision") == "bf16"
    refused(tmp_path, "C-FULL-HALF", overrides={"full_bf16": True, "mixed_precision": "fp16"})


def test_C_FP8_needs_mixed_precision(tmp_path):
    refused(tmp_path, "C-FP8", overrides={"fp8_base": True, "mixed_precision": "no"})
    assert plan_for(tmp_path, overrides={"fp8_base": True}).value("mixed_precision") == "fp16"


def test_C_SDXL_V2_refused(tmp_path):
    refused(tmp_path, "C-SDXL-V2", model={"family": "sdxl"}, overrides={"v2": True})


def test_C_CLIPSKIP_on_sdxl_and_v2(tmp_path):
    assert warned(plan_for(tmp_path, model={"family": "sdxl"}, overrides={"clip_skip": 2}), "C-CLIPSKIP")
    sd2 = plan_for(tmp_path, model={"family": "sd2", "tags": "booru"})
    assert sd2.value("clip_skip") is None and sd2.decision("clip_skip").rule == "C-CLIPSKIP"


def test_C_VPRED_loss_options(tmp_path):
    refused(tmp_path, "C-VPRED", overrides={"scale_v_pred_loss_like_noise_pred": True})
    refused(tmp_path, "C-VPRED", model={"vpred": True}, overrides={"v_pred_like_loss": 0.1})
    assert warned(plan_for(tmp_path, overrides={"zero_terminal_snr": True}), "C-VPRED")


def test_C_NOISE_adaptive_needs_offset(tmp_path):
    refused(tmp_path, "C-NOISE", overrides={"adaptive_noise_scale": 0.01})
    plan_for(tmp_path, overrides={"adaptive_noise_scale": 0.01, "noise_offset": 0.05})


def test_C_ATTENTION_one_kernel(tmp_path):
    plan = plan_for(tmp_path, attention="xformers", overrides={"sdpa": True})
    assert plan.value("xformers") is None and plan.decision("xformers").rule == "C-ATTENTION"
    assert warned(plan_for(tmp_path, overrides={"sdpa": True, "xformers": True}), "C-ATTENTION")


def test_C_OPTIMIZER_hand_set_type_drops_prodigy_arguments(tmp_path):
    plan = plan_for(tmp_path, overrides={"optimizer_type": "AdamW"})
    assert plan.value("optimizer_args") is None and plan.decision("optimizer_args").rule == "C-OPTIMIZER"
    assert plan.value("learning_rate") == pytest.approx(1e-4)
    assert warned(plan, "C-OPTIMIZER")
    adaptive = plan_for(tmp_path, optimizer="adamw", overrides={"optimizer_type": "DAdaptAdam"})
    assert adaptive.value("learning_rate") == 1.0


def test_C_KWARGS_literal_values(tmp_path):
    message = refused(tmp_path, "C-KWARGS", overrides={"optimizer_args": ["decouple=yes"]})
    assert "decouple=yes" in message
    refused(tmp_path, "C-KWARGS", overrides={"lr_scheduler_args": ["a=b=c"]})
    plan_for(tmp_path, overrides={"optimizer_args": ["weight_decay=0.1", "betas=0.9,0.99", "d_coef='2'"]})


def test_C_OPT_FLAGS_legacy_flags(tmp_path):
    refused(tmp_path, "C-OPT-FLAGS", overrides={"use_8bit_adam": True})


def test_C_FUSED_only_adafactor(tmp_path):
    refused(tmp_path, "C-FUSED", overrides={"fused_backward_pass": True})


def test_C_ADAPTIVE_LR_warnings(tmp_path):
    assert warned(plan_for(tmp_path, overrides={"learning_rate": 1e-4}), "C-ADAPTIVE-LR")
    assert warned(plan_for(tmp_path, overrides={"unet_lr": 0.5}), "C-ADAPTIVE-LR")


def test_C_WARMUP_constant_scheduler(tmp_path):
    refused(tmp_path, "C-WARMUP", overrides={"lr_scheduler": "constant", "lr_warmup_steps": 100})
    plan = plan_for(tmp_path, overrides={"lr_warmup_steps": 100})
    assert plan.value("lr_scheduler") == "cosine"
    refused(tmp_path, "C-WARMUP", overrides={"lr_scheduler": "adafactor"})


def test_C_BUCKET_STEPS_and_RANGE(tmp_path):
    refused(tmp_path, "C-BUCKET-STEPS", overrides={"bucket_reso_steps": 48})
    xl = plan_for(tmp_path, model={"family": "sdxl"}, overrides={"bucket_reso_steps": 32})
    assert xl.value("bucket_reso_steps") == 32
    refused(tmp_path, "C-BUCKET-RANGE", overrides={"max_bucket_reso": 512})
    odd = plan_for(tmp_path, overrides={"min_bucket_reso": 300})
    assert warned(odd, "C-BUCKET-RANGE")
    assert warned(plan_for(tmp_path, overrides={"bucket_no_upscale": True, "max_bucket_reso": 1024}), "C-BUCKET-RANGE")


def test_C_NO_BUCKET_sizes_must_match(tmp_path):
    sizes = {"hmbrgr": [(768, 768)] * 29 + [(640, 768)]}
    message = refused(tmp_path, "C-NO-BUCKET", overrides={"enable_bucket": False}, sizes=sizes)
    assert "1 images are smaller" in message
    exact = {"hmbrgr": [(768, 768)] * 30}
    plan_for(tmp_path, overrides={"enable_bucket": False}, sizes=exact)
    large = {"hmbrgr": [(1024, 1024)] * 30}
    refused(tmp_path, "C-NO-BUCKET", overrides={"enable_bucket": False}, sizes=large)
    plan_for(tmp_path, overrides={"enable_bucket": False, "random_crop": True, "cache_latents": False}, sizes=large)
    assert warned(plan_for(tmp_path, overrides={"enable_bucket": False}), "C-NO-BUCKET")


def test_C_DYLORA_and_C_BOFT_shapes(tmp_path):
    refused(tmp_path, "C-DYLORA", network="dylora", overrides={"network_dim": 30})
    refused(tmp_path, "C-BOFT", network="boft", overrides={"network_dim": 8})
    boft = plan_for(tmp_path, network="boft", network_options={}, subject="character")
    assert boft.value("network_dim") >= 16


def test_C_NORMS_dylora_has_no_max_norm(tmp_path):
    plan = plan_for(tmp_path, network="dylora", with_other_loras=True)
    assert plan.value("scale_weight_norms") is None and plan.decision("scale_weight_norms").rule == "C-NORMS"


def test_C_BLOCKS_counts(tmp_path):
    refused(tmp_path, "C-BLOCKS", network_options={"block_dims": "4,4,4"})
    plan_for(tmp_path, network_options={"block_dims": ",".join(["8"] * 25)})
    refused(tmp_path, "C-BLOCKS", model={"family": "sdxl"}, network_options={"block_dims": ",".join(["8"] * 25)})


def test_C_LENGTH_steps_set_by_hand_win(tmp_path):
    plan = plan_for(tmp_path, overrides={"max_train_steps": 500})
    assert plan.value("max_train_epochs") is None and plan.decision("max_train_epochs").rule == "C-LENGTH"
    assert plan.figures.total_steps == 500
    assert warned(plan_for(tmp_path, overrides={"max_train_steps": 500, "max_train_epochs": 3}), "C-LENGTH")
    ratio = plan_for(tmp_path, overrides={"save_n_epoch_ratio": 5})
    assert ratio.value("save_every_n_epochs") is None


def test_C_SAMPLING_nonpositive_turns_off(tmp_path):
    assert warned(plan_for(tmp_path, samples=True, overrides={"sample_every_n_epochs": 0}), "C-SAMPLING")
    assert warned(plan_for(tmp_path, overrides={"sample_every_n_steps": 100}), "C-SAMPLING")


def test_C_RESUME_initial_step_below_total(tmp_path):
    refused(tmp_path, "C-RESUME", overrides={"initial_step": 100000})
    plan_for(tmp_path, overrides={"initial_step": 10})


@pytest.mark.parametrize(
    "key,value",
    [("gradient_accumulation_steps", 0), ("max_train_epochs", 0), ("max_train_epochs", -1), ("save_every_n_epochs", 0),
     ("save_every_n_steps", 0), ("network_dim", 0), ("max_data_loader_n_workers", -1), ("max_train_steps", 0),
     ("lr_warmup_steps", -5), ("train_batch_size", 10**12), ("resolution", "0"), ("caption_dropout_rate", 2.0)],
)  # fmt: skip
def test_C_RANGE_refuses_numbers_sd_scripts_cannot_use(tmp_path, key, value):
    message = refused(tmp_path, "C-RANGE", overrides={key: value})
    assert key in message


def test_C_RANGE_says_why_for_the_side_that_is_out(tmp_path):
    """A learning rate of 1e300 is not refused because 'a negative learning rate trains backwards'."""
    high = refused(tmp_path / "h", "C-RANGE", overrides={"learning_rate": 1e300})
    assert "negative" not in high and "far past anything a run uses" in high
    assert "trains backwards" in refused(tmp_path / "l", "C-RANGE", overrides={"learning_rate": -1.0})


def test_C_TRAIN_PARTS_something_trains(tmp_path):
    refused(tmp_path, "C-TRAIN-PARTS", overrides={"network_train_unet_only": True, "network_train_text_encoder_only": True})
    xl = plan_for(tmp_path, model={"family": "sdxl"}, vram_gb=8, overrides={"network_train_text_encoder_only": True})
    assert xl.value("cache_text_encoder_outputs") is None
