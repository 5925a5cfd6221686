"""The memory model (figures.vram) and the fallback ladder (K-VRAM)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from conftest import REPO, plan_for
from hypothesis import given, settings
from hypothesis import strategies as st

from kohyawiz.emit import plan_json
from kohyawiz.errors import UserError
from kohyawiz.memory.estimate import GIB
from kohyawiz.memory.facts import family_facts, network_params, optimizer_state_bytes


def test_K_VRAM_ordinary_plans_fit_ordinary_cards(tmp_path):
    for family, cards in (("sd1", (4, 6, 8, 12, 16, 24)), ("sd2", (8, 12, 24)), ("sdxl", (6, 8, 12, 16, 24))):
        for vram in cards:
            plan = plan_for(tmp_path, model={"family": family}, vram_gb=vram)
            assert plan.vram is not None and plan.vram.fits, (family, vram, plan.vram)
            assert plan.vram.estimate_gb <= vram


def test_K_VRAM_plan_json_carries_the_verdict(tmp_path):
    data = plan_json(plan_for(tmp_path))
    vram = data["figures"]["vram"]
    assert set(vram) >= {"estimate_gb", "budget_gb", "fits", "parts"}
    assert vram["budget_gb"] == 12 and vram["fits"] is True
    assert set(vram["parts"]) == {"unet", "text_encoders", "vae", "network", "gradients", "optimizer", "activations",
                                  "runtime"}  # fmt: skip
    assert abs(sum(vram["parts"].values()) - vram["estimate_gb"]) < 0.02


def test_K_VRAM_refuses_what_nothing_fits_and_names_the_smallest_card(tmp_path):
    with pytest.raises(UserError) as caught:
        plan_for(tmp_path, model={"family": "sdxl"}, vram_gb=2)
    message = str(caught.value)
    assert message.startswith("K-VRAM:") and "--vram" in message and "\n" not in message
    need = int(message.split("--vram ")[1].split(")")[0])
    assert plan_for(tmp_path, model={"family": "sdxl"}, vram_gb=need).vram.fits


def test_K_VRAM_never_names_a_card_larger_than_a_plan_can_take(tmp_path):
    """network_dim 100000 needs thousands of GB: the refusal says no single card fits, not
    `--vram 4462`, which the answers refuse (1024 GB at most)."""
    with pytest.raises(UserError) as caught:
        plan_for(tmp_path, model={"family": "sdxl"}, vram_gb=24, overrides={"network_dim": 100000})
    message = str(caught.value)
    assert message.startswith("K-VRAM:") and "--vram" not in message, message
    assert "no single card" in message and "past the 1024 GB a plan can name" in message


def test_K_VRAM_ladder_order_and_records(tmp_path):
    xl = plan_for(tmp_path, model={"family": "sdxl"}, vram_gb=6)
    steps = xl.vram.steps
    assert steps and "fp8 base weights" in steps
    assert xl.value("fp8_base") is True and xl.decision("fp8_base").rule == "K-VRAM"
    assert xl.decision("optimizer_type").rule == "K-VRAM" and xl.value("optimizer_type") == "AdamW8bit"
    assert any(f.rule == "K-VRAM" and f.level == "info" for f in xl.findings)
    mid = plan_for(tmp_path, model={"family": "sdxl"}, vram_gb=12)
    assert mid.vram.steps[:1] == ["text-encoder outputs cached, UNet-only training"]
    assert mid.value("network_train_unet_only") is True


def test_K_VRAM_never_overrides_an_explicit_choice(tmp_path):
    plan = plan_for(tmp_path, model={"family": "sdxl"}, vram_gb=6, optimizer="prodigy",
                    overrides={"network_dim": 32})  # fmt: skip
    assert plan.value("optimizer_type") == "Prodigy" and plan.value("network_dim") == 32
    with pytest.raises(UserError, match="K-VRAM"):
        plan_for(tmp_path, model={"family": "sdxl"}, vram_gb=6, overrides={"fp8_base": False, "resolution": "1024"})


def test_static_parts_are_counts_times_bytes(tmp_path):
    plan = plan_for(tmp_path, vram_gb=24)
    facts = family_facts("sd1")
    parts = plan.vram.parts
    assert parts["unet"] == round(facts["unet"] * 2 / GIB, 3)  # fp16 weights
    assert parts["text_encoders"] == round(facts["text_encoders"] * 2 / GIB, 3)
    assert parts["vae"] == 0.0  # cached latents: the VAE leaves the GPU
    unet, te = network_params("sd1", "lora", 32)
    assert plan.vram.trainable_params == unet + te
    assert parts["network"] == round((unet + te) * 4 / GIB, 3)
    assert parts["optimizer"] == round((unet + te) * optimizer_state_bytes("Prodigy") / GIB, 3)


def test_lora_counts_are_linear_in_rank():
    for family in ("sd1", "sd2", "sdxl"):
        one = network_params(family, "lora", 1)
        for dim in (2, 4, 8, 16, 32, 64, 128):
            assert network_params(family, "lora", dim) == (one[0] * dim, one[1] * dim)
        # DyLoRA trains the same matrices as LoRA at its full rank
        assert network_params(family, "dylora", 32) == network_params(family, "lora", 32)
    assert family_facts("sd1")["unet"] == 859_520_964  # SD1.5's UNet


@settings(max_examples=60, deadline=None)
@given(
    family=st.sampled_from(["sd1", "sd2", "sdxl"]),
    vram=st.floats(1, 96),
    network=st.sampled_from(["lora", "locon", "loha", "lokr", "dylora", "glora", "ia3", "diag-oft", "boft", "full"]),
    optimizer=st.sampled_from(["prodigy", "dadaptadam", "adamw", "adamw8bit"]),
)
def test_fits_is_never_true_when_frozen_weights_exceed_the_budget(tmp_path_factory, family, vram, network, optimizer):
    try:
        plan = plan_for(tmp_path_factory.mktemp("v"), model={"family": family}, vram_gb=vram, network=network,
                        optimizer=optimizer)  # fmt: skip
    except UserError as exc:
        assert "\n" not in str(exc)
        return
    assert plan.vram.fits or plan.vram.tight  # K-RESERVE: a tight plan is warned, not refused
    assert plan.vram.frozen_gb <= vram and plan.vram.estimate_gb <= vram


@pytest.mark.sdscripts
@pytest.mark.skipif(
    not (os.environ.get("KOHYAWIZ_SD_SCRIPTS") and os.environ.get("KOHYAWIZ_SD_PYTHON")),
    reason="set KOHYAWIZ_SD_SCRIPTS, KOHYAWIZ_SD_PYTHON",
)
def test_memory_facts_equal_the_real_models_on_the_meta_device():
    run = subprocess.run(
        [os.environ["KOHYAWIZ_SD_PYTHON"], str(REPO / "tools" / "model_facts.py"), "--check"],
        capture_output=True, text=True, timeout=1800, env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )  # fmt: skip
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    assert "memory facts match" in run.stdout


def test_bench_vram_gpu_lists_its_matrix_without_a_gpu():
    run = subprocess.run(
        ["python", str(REPO / "bench" / "vram_gpu.py"), "--list"], capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    rows = [json.loads(line) for line in run.stdout.splitlines() if line.startswith("{")]
    assert {r["family"] for r in rows} == {"sd1", "sdxl", "flux", "chroma", "sd3", "lumina", "anima", "hunyuan-image"}
    assert all("estimate_gb" in r and "training" in r["phases"] for r in rows)
    text = Path(REPO / "bench" / "phase_probe.py").read_text()
    assert "max_memory_allocated" in text and "max_memory_reserved" in text


def test_measured_activations_are_marked_and_used(tmp_path):
    """vendor/memory-activations.toml (tools/activation_facts.py) marks how each family was measured;
    the estimate then calls its activations calibrated and says how."""
    from kohyawiz.memory.facts import activation_facts, measured_activations

    table = measured_activations()
    for family in ("sd1", "sd2", "sdxl", "flux", "chroma", "sd3", "lumina", "anima", "hunyuan-image"):
        assert family in table and table[family]["how"].startswith(("FakeTensorMode", "CPU with real tensors"))
        facts = activation_facts(family)
        assert facts.calibrated and facts.per_mp_checkpointed < facts.per_mp  # checkpointing keeps less
        assert facts.block_per_mp > 0  # the largest block's transient is counted
    plan = plan_for(tmp_path, vram_gb=24)
    assert plan.vram.calibrated and plan.vram.measured.startswith("FakeTensorMode")


@pytest.mark.sdscripts
@pytest.mark.skipif(
    not (os.environ.get("KOHYAWIZ_SD_SCRIPTS") and os.environ.get("KOHYAWIZ_SD_PYTHON")),
    reason="set KOHYAWIZ_SD_SCRIPTS, KOHYAWIZ_SD_PYTHON",
)
def test_activation_facts_equal_a_fresh_measurement_of_sd1():
    run = subprocess.run(
        [os.environ["KOHYAWIZ_SD_PYTHON"], str(REPO / "tools" / "activation_facts.py"), "--only", "sd1", "--check"],
        capture_output=True, text=True, timeout=900, env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )  # fmt: skip
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    assert "activation facts match" in run.stdout
