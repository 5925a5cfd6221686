"""Memory per phase (K-VRAM), the reserve (K-RESERVE), system memory (K-RAM), measured
corrections (K-MEASURED) and the text-encoder caching pass of issue 19."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import plan_for
from hypothesis import given, settings
from hypothesis import strategies as st
from test_families import dit_plan, header_file, model_with_companions

from kohyawiz.emit import plan_json
from kohyawiz.errors import UserError
from kohyawiz.families.flux import SWAP_TABLE
from kohyawiz.memory.estimate import RamEstimate, VramEstimate
from kohyawiz.memory.facts import vram_reserve_gb
from kohyawiz.memory.machine import CALIBRATION_FILE, machine_ram_gb
from kohyawiz.memory.words import memory_line

FAMILIES = ("sd1", "sdxl", "flux", "chroma", "sd3", "lumina", "anima", "hunyuan-image")


def _plan(tmp_path: Path, family: str, **changes):
    if family in ("sd1", "sd2", "sdxl"):
        return plan_for(tmp_path, model={"family": family}, **changes)
    return dit_plan(tmp_path, family, **changes)


def test_K_RESERVE_fits_tight_and_does_not_fit():
    def est(gb: float) -> VramEstimate:
        return VramEstimate(gb, 12.0, {}, True, 0, phases={"training": gb}, reserve_gb=vram_reserve_gb(12))

    assert vram_reserve_gb(12) == 0.6 and vram_reserve_gb(4) == 0.4
    assert est(11.4).word == "fits" and est(11.41).word == "tight" and est(12.0).tight
    assert est(12.01).word == "does NOT fit" and not est(12.01).fits and not est(12.01).tight


def test_K_RESERVE_a_plan_inside_the_reserve_says_tight(tmp_path):
    fixed = {"network_dim": 32, "resolution": "768,768", "gradient_checkpointing": False, "fp8_base": False,
             "cache_latents_to_disk": True}  # fmt: skip
    roomy = plan_for(tmp_path / "a", vram_gb=24, optimizer="adamw", overrides=fixed)
    need = roomy.vram.estimate_gb
    budget = round(need + 0.1, 2)
    tight = plan_for(tmp_path / "b", vram_gb=budget, optimizer="adamw", overrides=fixed)
    assert tight.vram.tight and not tight.vram.fits
    assert [f.level for f in tight.findings if f.rule == "K-RESERVE"] == ["warn"]
    assert ": tight" in memory_line(plan_json(tight)["figures"]["vram"])


@settings(max_examples=40, deadline=None)
@given(family=st.sampled_from(FAMILIES), vram=st.sampled_from([4, 6, 8, 10, 12, 16, 24, 40, 80]))
def test_K_VRAM_no_phase_alone_exceeds_a_card_that_fits(tmp_path_factory, family, vram):
    try:
        plan = _plan(tmp_path_factory.mktemp("p"), family, vram_gb=vram)
    except UserError as exc:
        assert "\n" not in str(exc) and ("K-VRAM" in str(exc) or "K-RAM" in str(exc))
        return
    vram_figures = plan_json(plan)["figures"]["vram"]
    phases = vram_figures["phases"]
    assert {"loading", "training"} <= set(phases) and vram_figures["phase"] in phases
    assert vram_figures["estimate_gb"] == max(phases.values())
    if plan.vram.fits:
        assert all(gb <= vram - plan.vram.reserve_gb for gb in phases.values())
    if plan.value("cache_text_encoder_outputs"):
        assert "text_encoder_caching" in phases
    assert f"{vram_figures['phase'].replace('_', ' ')} decides" in memory_line(vram_figures)


def _flux_with_t5(tmp_path: Path, dtype: str, vram: float):
    model = model_with_companions(tmp_path / "models", "flux")
    (tmp_path / "models" / "t5xxl_fp8_e4m3fn.safetensors").unlink()
    header_file(tmp_path / "models" / "t5xxl_fp16.safetensors", {"w": [4, 4]}, dtype)
    return plan_for(tmp_path, model={"family": "flux", "path": str(model)}, vram_gb=vram)


@pytest.mark.parametrize("vram", [8, 10])
def test_K_VRAM_a_16_bit_t5_that_does_not_fit_the_caching_pass_is_refused_naming_the_fp8_file(tmp_path, vram):
    with pytest.raises(UserError) as caught:
        _flux_with_t5(tmp_path, "F16", vram)
    message = str(caught.value)
    assert "\n" not in message and "text-encoder caching pass" in message
    assert "t5xxl_fp8_e4m3fn.safetensors" in message and "--set t5xxl=PATH" in message


def test_K_VRAM_t5_at_its_file_dtype(tmp_path):
    wide = _flux_with_t5(tmp_path / "a", "F16", 12)  # 9.5 GB of fp16 T5 fits a 12 GB card's caching pass
    assert wide.vram.fits and 9.0 < wide.vram.phases["text_encoder_caching"] <= 12 - wide.vram.reserve_gb
    narrow = _flux_with_t5(tmp_path / "b", "F8_E4M3", 8)  # fp_base loads an fp8 file as it is
    assert narrow.vram.fits and narrow.vram.phases["text_encoder_caching"] < 6


def test_K_VRAM_hunyuan_encoder_in_fp8_or_on_the_cpu(tmp_path):
    twelve = dit_plan(tmp_path / "a", "hunyuan-image", vram_gb=12)
    assert twelve.value("fp8_vl") is True and twelve.decision("fp8_vl").rule == "K-VRAM"
    assert twelve.vram.phases["text_encoder_caching"] <= 12 - twelve.vram.reserve_gb
    eight = dit_plan(tmp_path / "b", "hunyuan-image", vram_gb=8)
    assert eight.value("text_encoder_cpu") is True and eight.value("cache_text_encoder_outputs_to_disk") is True
    assert eight.vram.fits
    roomy = dit_plan(tmp_path / "c", "hunyuan-image", vram_gb=24)
    assert roomy.value("fp8_vl") is None and roomy.value("text_encoder_cpu") is None


def test_K_VRAM_every_tier_of_the_sd_scripts_docs_fits_its_card(tmp_path):
    # docs/flux_train_network.md 6.1 (with the fp8 T5 it asks for below 10 GB)
    for vram, _blocks, _fp8 in SWAP_TABLE:
        assert dit_plan(tmp_path / f"flux{vram}", "flux", vram_gb=vram).vram.fits, vram
    # docs/hunyuan_image_train_network.md 6.1
    for vram in (8, 12, 24, 40):
        assert dit_plan(tmp_path / f"hy{vram}", "hunyuan-image", vram_gb=vram).vram.fits, vram
    # docs/train_SDXL-en.md: LoRA with 8 GB; docs/train_network_README-ja.md: SD1 LoRA in 8 GB
    assert plan_for(tmp_path / "xl", model={"family": "sdxl"}, vram_gb=8).vram.fits
    assert plan_for(tmp_path / "sd1", vram_gb=8).vram.fits


def test_K_RAM_line_read_given_and_refused(tmp_path):
    plan = plan_for(tmp_path / "a", ram_gb=32)
    ram = plan_json(plan)["figures"]["vram"]["ram"]
    assert ram["machine_gb"] == 32 and ram["source"] == "given" and ram["fits"]
    line = memory_line(plan_json(plan)["figures"]["vram"])
    assert line.startswith("VRAM about ") and line.endswith(f"; RAM about {ram['estimate_gb']:.0f} of 32 GB: fits")
    with pytest.raises(UserError) as caught:
        dit_plan(tmp_path / "b", "flux", vram_gb=12, ram_gb=16)
    message = str(caught.value)
    assert message.startswith("K-RAM:") and "16 GB of RAM given" in message and "\n" not in message
    assert "loading reads the model files" in message and "fp8 model files" in message
    # "12 GB card with 32 GB RAM fails while 64 GB works": Flux's bf16 file and a 16-bit T5 load on the CPU
    assert dit_plan(tmp_path / "c", "flux", vram_gb=12, ram_gb=64).vram.ram.fits


def test_K_RAM_reads_this_machine_when_not_given(tmp_path, monkeypatch):
    import kohyawiz.memory.machine as machine

    monkeypatch.delenv("KOHYAWIZ_RAM_GB", raising=False)
    monkeypatch.setattr(machine, "machine_ram_gb", lambda meminfo=None: 16.0)
    # The machine read here may not be the one that trains: a warning that says how to plan for it,
    # not a refusal (a plan exported to a cluster is made on a laptop).
    plan = dit_plan(tmp_path, "flux", vram_gb=12)
    (warning,) = [f for f in plan.findings if f.rule == "K-RAM"]
    assert warning.level == "warn" and not plan.vram.ram.fits
    assert "this machine's 16 GB (read from /proc/meminfo; --ram GB plans for the machine that trains" in warning.message
    with pytest.raises(UserError, match="K-RAM:"):
        dit_plan(tmp_path / "given", "flux", vram_gb=12, ram_gb=16)
    assert plan_json(plan_for(tmp_path / "sd"))["figures"]["vram"]["ram"]["source"] == "read"


def test_K_RAM_ladder_moves_caches_to_disk(tmp_path):
    many = [{"name": "hmbrgr", "images": 20000}]
    roomy = dit_plan(tmp_path / "a", "anima", vram_gb=24, ram_gb=128, concepts=many)
    assert roomy.value("cache_text_encoder_outputs_to_disk") is None
    assert roomy.vram.ram.parts["text_encoder_outputs"] > 10
    need = roomy.vram.ram.estimate_gb
    latents = roomy.vram.ram.parts["latents"]
    some = dit_plan(tmp_path / "s", "anima", vram_gb=24, ram_gb=need - latents / 2, concepts=many)
    assert some.value("cache_latents_to_disk") is True and some.value("cache_text_encoder_outputs_to_disk") is None
    short = dit_plan(tmp_path / "b", "anima", vram_gb=24, ram_gb=need - latents - 10, concepts=many)
    assert short.value("cache_text_encoder_outputs_to_disk") is True
    assert short.decision("cache_text_encoder_outputs_to_disk").rule == "K-VRAM"
    assert any("RAM" in s for s in short.vram.steps) and short.vram.ram.fits


def test_machine_ram_is_read_from_meminfo(tmp_path):
    meminfo = tmp_path / "meminfo"
    meminfo.write_text("MemTotal:       32768000 kB\nMemFree:  1 kB\n")
    assert machine_ram_gb(meminfo) == 31.2
    assert machine_ram_gb(tmp_path / "missing") is None
    meminfo.write_text("nonsense\n")
    assert machine_ram_gb(meminfo) is None


def test_K_MEASURED_earlier_runs_on_the_same_gpu_correct_the_estimate(tmp_path, monkeypatch):
    monkeypatch.setenv("KOHYAWIZ_HOME", str(tmp_path / "home"))
    plain_plan = plan_for(tmp_path / "a", gpu_name="NVIDIA GeForce RTX 3060")
    (tmp_path / "home").mkdir()
    (tmp_path / "home" / CALIBRATION_FILE).write_text(json.dumps(
        {"NVIDIA GeForce RTX 3060": {"ratio": 1.2, "runs": 2, "run": "20261201-run"}}))  # fmt: skip
    corrected = plan_for(tmp_path / "b", gpu_name="NVIDIA GeForce RTX 3060")
    other = plan_for(tmp_path / "c", gpu_name="NVIDIA A100")
    assert other.vram.estimate_gb == plain_plan.vram.estimate_gb and other.vram.correction is None
    assert corrected.vram.correction == 1.2
    assert any(f.rule == "K-MEASURED" and "2 measured run(s)" in f.message for f in corrected.findings)
    assert "x1.2 measured on this GPU" in memory_line(plan_json(corrected)["figures"]["vram"])
    if corrected.vram.steps == plain_plan.vram.steps:
        assert corrected.vram.estimate_gb == pytest.approx(plain_plan.vram.estimate_gb * 1.2, abs=0.02)
    (tmp_path / "home" / CALIBRATION_FILE).write_text(json.dumps({"NVIDIA GeForce RTX 3060": {"ratio": 9.0}}))
    assert plan_for(tmp_path / "d", gpu_name="NVIDIA GeForce RTX 3060").vram.correction is None  # out of range


def test_ram_estimate_words():
    ram = RamEstimate(20.0, 16.0, {"loading": 20.0, "training": 9.0}, {}, "read")
    assert not ram.fits and ram.phase == "loading"
    assert RamEstimate(20.0, None, {"training": 20.0}, {}, "unknown").fits


def test_K_RAM_an_fp8_model_file_loads_in_less_memory(tmp_path):
    from test_families import HEADERS

    wide = dit_plan(tmp_path / "a", "flux", vram_gb=8, ram_gb=64)
    model = model_with_companions(tmp_path / "b" / "models", "flux")
    header_file(model, HEADERS["flux"], "F8_E4M3")  # the same Flux, stored in fp8
    narrow = plan_for(tmp_path / "b", model={"family": "flux", "path": str(model)}, vram_gb=8, ram_gb=24)
    assert narrow.vram.ram.phases["loading"] < wide.vram.ram.phases["loading"] - 8
    assert narrow.vram.ram.fits


@pytest.mark.parametrize(("fp8", "precision", "published"), [(False, "bf16", 44.18), (True, "fp16", 33.53)])
def test_K_VRAM_flux_rank_128_against_published_a6000_peaks(tmp_path, fp8, precision, published):
    """kohya-ss/sd-scripts PR #1374 (FurkanGozukara, 2024-08-19): Flux LoRA rank 128 on an A6000,
    44.18 GB in BF16 and 33.53 GB with fp8_base. The thread names rank, precision and fp8; the rest
    is assumed: AdamW, gradient checkpointing, 1024 px, batch 1, text encoders not cached (a 16-bit
    T5-XXL on the card), no block swapping. The issue's bar: within 20% of a measured peak."""
    model = model_with_companions(tmp_path / "models", "flux")
    (tmp_path / "models" / "t5xxl_fp8_e4m3fn.safetensors").unlink()
    header_file(tmp_path / "models" / "t5xxl_fp16.safetensors", {"w": [4, 4]}, "F16")
    settings = {"network_dim": 128, "network_alpha": 128, "cache_text_encoder_outputs": False, "fp8_base": fp8,
                "cache_text_encoder_outputs_to_disk": False, "mixed_precision": precision, "blocks_to_swap": 0,
                "gradient_checkpointing": True, "resolution": "1024,1024", "train_batch_size": 1}  # fmt: skip
    plan = plan_for(tmp_path, model={"family": "flux", "path": str(model)}, vram_gb=48, optimizer="adamw",
                    overrides=settings)  # fmt: skip
    assert abs(plan.vram.phases["training"] - published) <= 0.2 * published


@pytest.mark.parametrize("family", ["sd1", "flux"])
def test_K_VRAM_every_phase_the_run_goes_through_is_in_the_estimate(tmp_path, family):
    """Each phase sd-scripts runs is estimated, and holds at least what it keeps on the card: the
    model while loading, the VAE pass while caching latents, the model and network while sampling."""
    sampled = _plan(tmp_path / "a", family, overrides={"sample_every_n_epochs": 1})
    phases, parts = sampled.vram.phases, sampled.vram.parts
    expected = {"loading", "latent_caching", "training", "sampling"}
    if sampled.value("cache_text_encoder_outputs"):
        expected.add("text_encoder_caching")
    assert sampled.value("cache_latents") is True and set(phases) == expected
    assert phases["loading"] >= parts["unet"] + parts["runtime"]
    assert phases["latent_caching"] > parts["runtime"] and phases["training"] >= sum(parts.values()) - 0.01
    assert phases["sampling"] >= parts["unet"] + parts["network"] + parts["optimizer"] + parts["runtime"]
    assert "sampling" not in _plan(tmp_path / "b", family).vram.phases  # no sampling asked, no sampling pass


def test_K_VRAM_names_the_fp8_t5_lying_beside_the_16_bit_one(tmp_path):
    """ComfyUI keeps both T5 files in text_encoders/; the lookup takes the 16-bit one, and when its caching pass
    does not fit, the refusal names the 8-bit file that is already there instead of sending the person to get one."""
    model = model_with_companions(tmp_path / "models", "flux")  # holds t5xxl_fp8_e4m3fn.safetensors (F8_E4M3)
    fp16 = header_file(tmp_path / "models" / "t5xxl_fp16.safetensors", {"w": [4, 4]}, "F16")
    with pytest.raises(UserError) as caught:
        plan_for(tmp_path, model={"family": "flux", "path": str(model)}, vram_gb=8, overrides={"t5xxl": str(fp16)})
    message = str(caught.value)
    assert f"--set t5xxl={tmp_path / 'models' / 't5xxl_fp8_e4m3fn.safetensors'}" in message and "\n" not in message
