"""The diffusion-transformer families: inspect, companion files, the F- rules (each named here),
their constraints, the memory model with fp8 and block swapping, and the trainers' facts."""

from __future__ import annotations

import json
import os
import re
import struct
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import plan_for

from kohyawiz.emit import render
from kohyawiz.errors import UserError
from kohyawiz.families import SPECS, family_spec
from kohyawiz.rules import REGISTRY
from kohyawiz.rules.families import FAMILY_RULES

DITS = ("flux", "chroma", "sd3", "lumina", "anima", "hunyuan-image")
HEADERS: dict[str, dict[str, list[int]]] = {
    "flux": {"double_blocks.0.img_attn.qkv.weight": [9216, 3072], "single_blocks.0.linear1.weight": [21504, 3072],
             "img_in.weight": [3072, 64], "guidance_in.in_layer.weight": [3072, 256]},
    "chroma": {"double_blocks.0.img_attn.qkv.weight": [9216, 3072], "single_blocks.0.linear1.weight": [21504, 3072],
               "img_in.weight": [3072, 64], "distilled_guidance_layer.in_proj.weight": [5120, 64]},
    "sd3": {f"model.diffusion_model.joint_blocks.{i}.context_block.attn.qkv.weight": [4608, 1536] for i in range(24)}
    | {"model.diffusion_model.x_embedder.proj.weight": [1536, 16, 2, 2]},
    "lumina": {"cap_embedder.1.weight": [2304, 2304], "context_refiner.0.attention.qkv.weight": [6912, 2304],
               "layers.0.attention.qkv.weight": [6912, 2304]},
    "anima": {"net.t_embedder.1.linear_1.weight": [2048, 2048], "net.blocks.0.self_attn.q_proj.weight": [2048, 2048],
              "net.x_embedder.proj.1.weight": [2048, 68], "net.t_embedding_norm.weight": [2048]},
    "hunyuan-image": {"double_blocks.0.img_attn_qkv.weight": [10752, 3584], "single_blocks.0.linear1.weight": [1, 1],
                      "img_in.proj.weight": [3584, 64, 1, 1], "byt5_in.fc1.weight": [2048, 1472]},
}  # fmt: skip
COMPANION_FILES = {
    "clip_l": "clip_l.safetensors", "t5xxl": "t5xxl_fp8_e4m3fn.safetensors", "ae": "ae.safetensors",
    "clip_g": "clip_g.safetensors", "vae": "vae.safetensors", "gemma2": "gemma_2_2b_fp16.safetensors",
    "qwen3": "qwen_3_06b_base.safetensors", "text_encoder": "qwen_2.5_vl_7b.safetensors",
    "byt5": "byt5_small_glyphxl_fp16.safetensors",
}  # fmt: skip


def header_file(path: Path, tensors: dict[str, list[int]], dtype: str = "BF16") -> Path:
    header = {k: {"dtype": dtype, "shape": v, "data_offsets": [0, 0]} for k, v in tensors.items()}
    raw = json.dumps(header).encode()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(struct.pack("<Q", len(raw)) + raw)
    return path


def model_with_companions(root: Path, family: str, *, leave_out: str | None = None) -> Path:
    model = header_file(root / f"{family}.safetensors", HEADERS[family])
    for companion in family_spec(family).companions:
        if companion.arg != leave_out:
            # the fp8 T5-XXL the Flux doc asks for on small cards (K-VRAM refuses a 16-bit one there)
            dtype = "F8_E4M3" if companion.arg == "t5xxl" else "BF16"
            header_file(root / COMPANION_FILES[companion.arg], {"w": [4, 4]}, dtype)
    return model


def dit_plan(tmp_path: Path, family: str, **changes: Any):
    model = model_with_companions(tmp_path / "models", family)
    return plan_for(tmp_path, model={"family": family, "path": str(model)}, **changes)


def test_every_family_rule_has_code_a_catalog_line_and_a_decision(tmp_path):
    registered = {r for r in REGISTRY if r.startswith("F-")}
    assert registered <= set(FAMILY_RULES)
    cited: set[str] = set()
    for family in DITS:
        plan = dit_plan(tmp_path / family, family, vram_gb=8, samples=True)
        cited |= {d.rule for d in plan.decisions} | {f.rule for f in plan.findings}
    plan = dit_plan(tmp_path / "lumina-adam", "lumina", optimizer="adamw")
    cited |= {d.rule for d in plan.decisions}
    assert set(FAMILY_RULES) - cited == set(), "F- ids no plan cites"
    from kohyawiz.cli.explain_cmd import rule_catalog

    sources = {r: rule_catalog()[r][0] for r in FAMILY_RULES}
    cites = {r: s for r, s in sources.items() if re.match(r"sd-scripts docs/[a-z0-9_*]+_train_network\.md", s)}
    assert set(sources) - set(cites) == {"F-LOSS"}
    assert sources["F-LOSS"] == "sd-scripts flux_train_network.py post_process_loss"


@pytest.mark.parametrize("family", DITS)
def test_each_family_uses_its_trainer_module_and_companions(tmp_path, family):
    spec = family_spec(family)
    plan = dit_plan(tmp_path, family, vram_gb=24)
    assert plan.script == spec.script and plan.value("network_module") == spec.network_module  # F-TRAINER, F-MODULE
    for companion in spec.companions:  # F-COMPANION: found beside the model
        assert plan.value(companion.arg).endswith(COMPANION_FILES[companion.arg])
    for key in ("v2", "clip_skip", "v_parameterization", "min_snr_gamma", "debiased_estimation_loss"):
        assert plan.value(key) is None  # F-TRAINER, F-LOSS: SD-only arguments are left out
    assert plan.value("network_train_unet_only") is True and plan.value("cache_text_encoder_outputs") is True  # F-TECACHE
    assert plan.value("gradient_checkpointing") is True  # F-GRADCKPT
    assert plan.value("bucket_reso_steps") % spec.bucket_multiple == 0
    config = render(plan)["config.toml"]
    assert spec.network_module in config and spec.script in render(plan)["plan.json"]


def test_flux_and_chroma_follow_the_flux_doc(tmp_path):
    flux = dit_plan(tmp_path / "f", "flux")
    assert (flux.value("timestep_sampling"), flux.value("model_prediction_type")) == ("shift", "raw")  # F-FLOW
    assert flux.value("guidance_scale") == 1.0 and flux.value("model_type") is None  # F-GUIDANCE
    chroma = dit_plan(tmp_path / "c", "chroma")
    assert chroma.value("model_type") == "chroma" and chroma.value("guidance_scale") == 0.0
    assert chroma.value("apply_t5_attn_mask") is True  # F-MASK
    assert chroma.value("clip_l") is None  # Chroma has no CLIP-L


def test_lumina_anima_hunyuan_specifics(tmp_path):
    lumina = dit_plan(tmp_path / "l", "lumina", samples=True)
    assert lumina.value("mixed_precision") == "bf16" and lumina.decision("mixed_precision").rule == "F-PRECISION"
    assert lumina.value("timestep_sampling") == "nextdit_shift" and "assistant" in lumina.value("system_prompt")  # F-PROMPTS
    assert lumina.value("sample_sampler") is None
    assert "--ctr 0.25" in render(lumina)["sample_prompts.txt"] and "--l 7" not in render(lumina)["sample_prompts.txt"]
    anima = dit_plan(tmp_path / "a", "anima", attention="xformers")
    assert anima.value("vae_chunk_size") == 64  # F-VAE
    assert (anima.value("attn_mode"), anima.value("split_attn")) == ("xformers", True)  # F-ATTN, C-SPLIT-ATTN
    assert anima.value("fp8_base") is None
    hunyuan = dit_plan(tmp_path / "h", "hunyuan-image", vram_gb=12)
    assert hunyuan.value("resolution") == "2048,2048"  # F-RES
    assert hunyuan.value("fp8_scaled") is True and hunyuan.value("blocks_to_swap") == 32  # F-FP8, F-SWAP
    flux = dit_plan(tmp_path / "f", "flux", optimizer="adamw", overrides={"learning_rate": 1e-3})
    assert any(f.rule == "F-LR" for f in flux.findings)


@pytest.mark.parametrize(("vram", "blocks", "fp8"), [(8, 28, True), (12, 16, True), (24, None, True), (80, None, None)])
def test_flux_block_swap_and_fp8_follow_the_doc_table(tmp_path, vram, blocks, fp8):
    plan = dit_plan(tmp_path, "flux", vram_gb=vram)
    assert plan.value("blocks_to_swap") == blocks and plan.value("fp8_base") == fp8
    assert plan.vram is not None and plan.vram.fits


def test_the_memory_ladder_swaps_blocks_where_the_table_is_silent(tmp_path):
    plan = dit_plan(tmp_path, "sd3", vram_gb=10)  # SD3.5 from the family's own count; 24 blocks in the header
    assert plan.vram is not None and plan.vram.fits
    swap = plan.value("blocks_to_swap")
    assert isinstance(swap, int) and 1 <= swap <= 22  # C-SWAP-MAX: two blocks fewer than the header's 24
    assert plan.vram.steps[-1].startswith(f"{swap} blocks swapped to the CPU")
    assert plan.decision("blocks_to_swap").rule == "K-VRAM"


def test_a_missing_companion_is_refused_naming_it_and_the_argument(tmp_path):
    model = model_with_companions(tmp_path, "flux", leave_out="t5xxl")
    with pytest.raises(UserError, match=r"needs t5xxl \(the T5-XXL text encoder\).*--set t5xxl=PATH"):
        plan_for(tmp_path, model={"family": "flux", "path": str(model)})
    plan = plan_for(tmp_path, model={"family": "flux", "path": str(model)},
                    overrides={"t5xxl": str(tmp_path / "clip_l.safetensors")})  # fmt: skip
    assert plan.value("t5xxl").endswith("clip_l.safetensors") and plan.decision("t5xxl").source == "user"
    with pytest.raises(UserError, match="needs clip_l"):
        plan_for(tmp_path, model={"family": "flux"})
    with pytest.raises(UserError, match="t5xxl is set to an empty path"):
        plan_for(tmp_path, model={"family": "flux", "path": str(model)}, overrides={"t5xxl": " "})
    plan = plan_for(tmp_path, model={"family": "flux", "path": str(model)}, overrides={"t5xxl": str(tmp_path)})
    assert any(f.rule == "F-COMPANION" and "does not exist" in f.message for f in plan.findings)  # a folder, not a file


def test_companions_in_a_comfyui_layout_and_held_by_an_sd3_checkpoint(tmp_path):
    models = tmp_path / "ComfyUI" / "models"
    model = header_file(models / "diffusion_models" / "flux1-dev.safetensors", HEADERS["flux"])
    header_file(models / "text_encoders" / "clip_l.safetensors", {"w": [1]})
    header_file(models / "text_encoders" / "t5xxl_fp8_e4m3fn.safetensors", {"w": [1]})
    header_file(models / "vae" / "ae.safetensors", {"w": [1]})
    plan = plan_for(tmp_path, model={"family": "flux", "path": str(model)})
    assert "text_encoders" in plan.value("t5xxl") and "vae" in plan.value("ae")
    held = HEADERS["sd3"] | {
        "text_encoders.clip_l.transformer.text_model.embeddings.position_embedding.weight": [77, 768],
        "text_encoders.clip_g.transformer.text_model.embeddings.position_embedding.weight": [77, 1280],
        "text_encoders.t5xxl.transformer.encoder.block.0.layer.0.SelfAttention.k.weight": [4096, 4096],
        "first_stage_model.decoder.conv_in.weight": [512, 16, 3, 3],
    }
    sd35 = header_file(tmp_path / "single" / "sd3.5_large.safetensors", held)
    plan = plan_for(tmp_path / "p2", model={"family": "sd3", "path": str(sd35)})
    assert all(plan.value(k) is None for k in ("clip_l", "clip_g", "t5xxl", "vae"))


def test_dit_constraints_give_way_or_refuse(tmp_path):
    plan = dit_plan(tmp_path / "a", "flux", overrides={"cpu_offload_checkpointing": True}, vram_gb=16)
    assert plan.value("blocks_to_swap") is None  # C-SWAP-OFFLOAD: the rule's swap gives way
    plan = dit_plan(tmp_path / "a2", "chroma", overrides={"cpu_offload_checkpointing": True}, vram_gb=48)
    assert any(f.rule == "C-CHROMA-OFFLOAD" for f in plan.findings)
    with pytest.raises(UserError, match="C-MODEL-TYPE"):
        dit_plan(tmp_path / "a3", "chroma", overrides={"model_type": "flux"})
    with pytest.raises(UserError, match="C-SWAP-MAX"):
        dit_plan(tmp_path / "b", "flux", overrides={"blocks_to_swap": 40})
    with pytest.raises(UserError, match="C-DIT-ONLY"):
        dit_plan(tmp_path / "c", "hunyuan-image", overrides={"network_train_unet_only": False})
    with pytest.raises(UserError, match="C-CHROMA-MASK"):
        dit_plan(tmp_path / "d", "chroma", overrides={"apply_t5_attn_mask": False})
    with pytest.raises(UserError, match="C-T5-CACHE"):
        dit_plan(tmp_path / "e", "flux", network_options={"train_t5xxl": True},
                 overrides={"network_train_unet_only": False, "cache_text_encoder_outputs": True})  # fmt: skip
    plan = dit_plan(tmp_path / "f", "anima", overrides={"fp8_base": True})
    assert any(f.rule == "C-FP8-DIT" for f in plan.findings)
    plan = dit_plan(tmp_path / "g", "flux", overrides={"shuffle_caption": True})
    assert plan.value("cache_text_encoder_outputs") is None  # C-TECACHE-CAPTIONS


def test_lycoris_and_old_sd_scripts_are_refused_in_one_line(tmp_path):
    with pytest.raises(UserError, match="F-MODULE: locon is not planned for Flux"):
        dit_plan(tmp_path / "a", "flux", network="locon")
    with pytest.raises(UserError, match=r"network_module networks\.lora cannot train Flux"):
        dit_plan(tmp_path / "c", "flux", overrides={"network_module": "networks.lora"})
    with pytest.raises(UserError, match=r"has no flux_train_network\.py"):
        dit_plan(tmp_path / "b", "flux", sd_scripts_version="v0.9.1")


def test_header_params_and_blocks_reach_the_answers(tmp_path):
    from kohyawiz.models import inspect_model

    info = inspect_model(str(header_file(tmp_path / "sd3.safetensors", HEADERS["sd3"])))
    assert info.blocks == 24 and info.params and info.answers()["blocks"] == 24


def test_cli_family_choices_and_inspect(tmp_path):
    model = model_with_companions(tmp_path, "lumina")
    run = subprocess.run([sys.executable, "-m", "kohyawiz", "plan", "--family", "lumina", "--model", str(model),
                          "--subject", "style", "--vram", "16", "--concept", "a=60", "--out", str(tmp_path / "p")],
                         capture_output=True, text=True)  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert "lumina_train_network.py" in run.stdout
    assert set(SPECS) == {"sd1", "sd2", "sdxl", *DITS}


def test_kohya_ss_gui_json_with_model_checkboxes_imports_and_exports_the_family(tmp_path):
    from kohyawiz.interop.export import gui_config
    from kohyawiz.interop.kohya import import_settings

    model = model_with_companions(tmp_path / "m", "chroma")  # a Flux header would be refused (T-FAMILY)
    gui = {"LoRA_type": "Standard", "flux1_checkbox": True, "model_type": "chroma", "network_dim": 16,
           "pretrained_model_name_or_path": str(model), "t5xxl": str(tmp_path / "m" / "t5xxl_fp16.safetensors"),
           "ae": str(tmp_path / "m" / "ae.safetensors")}  # fmt: skip
    imported = import_settings(gui, "gui.json")
    assert imported.answers["model"]["family"] == "chroma"
    assert "t5xxl" not in imported.overrides  # a machine path: the trust boundary leaves it to --set
    assert import_settings({"_script": "lumina_train_network.py", "network_dim": 8}, "c.toml").answers["model"]["family"] == "lumina"
    plan = dit_plan(tmp_path / "p", "chroma")
    out = gui_config(plan)
    assert out["flux1_checkbox"] is True and out["sd3_checkbox"] is False and out["model_type"] == "chroma"


def _triple(plan: Any) -> tuple[int, float, float]:
    return int(plan.value("network_dim")), float(plan.value("network_alpha")), float(plan.value("learning_rate"))


def _not_hotter(family: str, dim: int, alpha: float, lr: float) -> bool:
    """lr, lr x alpha and lr x alpha / rank at most the doc's own figures."""
    doc = family_spec(family).recipe
    assert doc is not None
    return (lr <= doc.lr * 1.000001 and lr * alpha <= doc.lr * doc.alpha * 1.000001
            and lr * alpha / dim <= doc.lr * doc.alpha / doc.dim * 1.000001)  # fmt: skip


@pytest.mark.parametrize("family", DITS)
@pytest.mark.parametrize("vram", [6, 8, 12, 24])
def test_dit_rank_alpha_lr_optimizer_and_scheduler_come_from_the_doc_together(tmp_path, family, vram):
    """F-RANK, F-OPT, F-LR: with no optimizer chosen, a DiT plan trains as its doc's example command
    does, and the memory ladder (K-VRAM) never leaves it stepping hotter than the doc."""
    if vram == 6 and family == "sd3":
        # K-VRAM: its text-encoder caching pass holds T5-XXL (4.4 GiB even in fp8), CLIP-G and CLIP-L
        # on the card, more than 6 GB less the reserve: refused in one line, not planned
        with pytest.raises(UserError, match="text-encoder caching pass"):
            dit_plan(tmp_path, family, vram_gb=vram)
        return
    plan = dit_plan(tmp_path, family, vram_gb=vram)
    doc = family_spec(family).recipe
    assert doc is not None and "4. Running the Training" in doc.where
    dim, alpha, lr = _triple(plan)
    assert _not_hotter(family, dim, alpha, lr), (dim, alpha, lr)
    assert plan.value("optimizer_type") in ("AdamW8bit", "AdamW") and plan.value("lr_scheduler") == doc.scheduler
    assert plan.decision("lr_scheduler").rule == "F-OPT"
    if plan.decision("network_dim").rule == "F-RANK":
        assert (dim, alpha, lr) == (doc.dim, doc.alpha, doc.lr)
        assert doc.where in plan.decision("network_dim").reason and doc.where in plan.decision("learning_rate").reason
    else:  # the ladder lowered the rank: alpha follows it
        assert plan.decision("network_dim").rule == "K-VRAM" and plan.decision("network_alpha").rule == "F-RANK"
        assert alpha / dim == pytest.approx(doc.alpha / doc.dim)


def test_flux_at_12_gb_is_the_docs_triple_not_rank_32_alpha_32(tmp_path):
    """The issue's case (F-RANK, F-LR, F-OPT, F-RES): Flux on a 12 GB card was dim 32 / alpha 32 at lr
    1e-4 and 768 px; its doc trains dim 16 / alpha 1 at 1e-4 with AdamW8bit, and 1024 fits."""
    plan = dit_plan(tmp_path, "flux", vram_gb=12)
    assert _triple(plan) == (16, 1.0, 1e-4)
    assert (plan.value("optimizer_type"), plan.value("lr_scheduler")) == ("AdamW8bit", "constant")
    assert plan.value("resolution") == "1024,1024" and plan.decision("resolution").rule == "F-RES"
    assert plan.vram is not None and plan.vram.fits


def test_a_ladder_step_moves_the_values_paired_with_it(tmp_path):
    """K-VRAM with F-RANK and F-LR: a rank the ladder lowers takes alpha down with it, and a resolution
    it lowers is said as its own step, never as a doc's advice (F-RES keeps the native one)."""
    # batch 4 on 10 GB: the smallest Flux card whose caching pass fits without swapping every block
    plan = dit_plan(tmp_path, "flux", vram_gb=10, overrides={"train_batch_size": 4})
    assert plan.decision("network_dim").rule == "K-VRAM" and _triple(plan) == (8, 0.5, 1e-4)
    resolution = plan.decision("resolution")
    assert resolution.rule == "K-VRAM" and "to fit 10 GB" in resolution.reason and resolution.value != "1024,1024"
    assert "F-RES would give '1024,1024'" in resolution.reason
    for family in DITS:
        for vram in (8, 10, 12) if family == "sd3" else (6, 8, 10, 12):  # SD3 at 6 GB: refused (see above)
            planned = dit_plan(tmp_path / f"{family}{vram}", family, vram_gb=vram)
            decision = planned.decision("resolution")
            native = family_spec(family).resolution
            assert decision.rule == ("F-RES" if decision.value == f"{native},{native}" else "K-VRAM")
            assert "per the doc" not in decision.reason and "short of memory" not in decision.reason


def test_an_optimizer_change_re_derives_alpha_lr_and_scheduler(tmp_path):
    """F-RANK, F-LR, F-OPT: the ladder's Prodigy -> AdamW8bit (ctx.fit_optimizer) gives the doc's
    alpha, lr and scheduler, not Prodigy's alpha 1 / lr 1 nor the guide's SD alpha = rank."""
    from conftest import make_answers

    from kohyawiz.facts import load_interface
    from kohyawiz.rules import Context, Decider, apply_rules
    from kohyawiz.rules.context import ConceptPlan

    answers = make_answers(model={"family": "flux", "path": None}, optimizer="prodigy", vram_gb=24)
    concepts = [ConceptPlan("hmbrgr", [], 30, tmp_path / "img")]

    def decided(fit_optimizer: str | None) -> Decider:
        ctx = Context(answers, load_interface("main-48d368fa"), Decider(), tmp_path, list(concepts))
        ctx.fit_optimizer = fit_optimizer
        apply_rules(ctx)
        return ctx.decider

    prodigy, eight_bit = decided(None), decided("adamw8bit")
    assert [prodigy.get(k) for k in ("optimizer_type", "network_alpha", "learning_rate")] == ["Prodigy", 1.0, 1.0]
    assert [eight_bit.get(k) for k in ("optimizer_type", "network_dim", "network_alpha", "learning_rate", "lr_scheduler")] == [
        "AdamW8bit", 16, 1.0, 1e-4, "constant"]  # fmt: skip
    assert eight_bit.decisions["optimizer_type"].rule == "K-VRAM"


def test_an_alpha_set_by_hand_lowers_the_learning_rate_and_a_hot_lr_is_warned(tmp_path):
    """F-LR: sd-scripts' Anima doc says 1e-4 is for alpha 1 and to lower it when alpha goes up."""
    raised = dit_plan(tmp_path / "a", "flux", overrides={"network_alpha": 16})
    dim, alpha, lr = _triple(raised)
    assert (dim, alpha) == (16, 16.0) and lr == pytest.approx(1e-4 / 16) and _not_hotter("flux", dim, alpha, lr)
    assert "lowered so no step is hotter" in raised.decision("learning_rate").reason
    assert not any(f.rule == "F-LR" for f in raised.findings)
    hot = dit_plan(tmp_path / "b", "anima", overrides={"network_alpha": 8, "learning_rate": 1e-4})
    warning = next(f.message for f in hot.findings if f.rule == "F-LR")
    assert "steps hotter than sd-scripts docs/anima_train_network.md" in warning and "1.25e-05" in warning
    bigger = dit_plan(tmp_path / "c", "lumina", overrides={"network_dim": 32})
    assert _triple(bigger) == (32, 8.0, 1e-4)  # alpha stays the doc's 8: a cooler step


def test_an_adaptive_optimizer_chosen_for_a_dit_keeps_the_guides_alpha_and_lr(tmp_path):
    """F-RANK where the doc is silent (it trains with AdamW8bit): Prodigy gets the guide's alpha 1, lr 1."""
    plan = dit_plan(tmp_path, "flux", optimizer="prodigy")
    assert _triple(plan) == (16, 1.0, 1.0) and plan.value("lr_scheduler") == "cosine"
    assert plan.decision("network_alpha").rule == "F-RANK" and plan.decision("learning_rate").rule == "T-OPT"


DOC_FLAGS = re.compile(r"--(network_dim|network_alpha|learning_rate|optimizer_type|lr_scheduler)=\"?([^\s\"\\]+)")


@pytest.mark.parametrize("family", DITS)
def test_each_recipe_is_its_docs_example_command(family):
    """F-RANK, F-OPT, F-LR against the real sd-scripts docs: the values are section 4's example command."""
    root = os.environ.get("KOHYAWIZ_SD_SCRIPTS")
    if not root or not (Path(root) / "docs").is_dir():
        pytest.skip("set KOHYAWIZ_SD_SCRIPTS to an sd-scripts checkout")
    spec = family_spec(family)
    doc = spec.recipe
    assert doc is not None and doc.where.startswith(spec.doc)
    text = (Path(root) / spec.doc).read_text()
    section = text[text.index("## 4. Running the Training"):]
    command = section[section.index("```bash"):section.index("```", section.index("```bash") + 3)]
    flags = dict(DOC_FLAGS.findall(command))
    if family == "chroma":  # its own example elides the shared options with "..."
        flags = dict(DOC_FLAGS.findall(text[text.index("```bash"):]))
    assert int(flags["network_dim"]) == doc.dim
    assert float(flags.get("network_alpha", "1.0")) == doc.alpha  # Anima's example leaves alpha at its default 1
    assert float(flags["learning_rate"]) == doc.lr
    assert flags["optimizer_type"].lower() == doc.optimizer and flags["lr_scheduler"] == doc.scheduler


def test_a_plan_refused_lists_every_problem_and_an_override_is_checked_on_its_own_key(tmp_path):
    from kohyawiz.errors import PlanRefused
    from kohyawiz.plan import check_override

    model = model_with_companions(tmp_path / "models", "flux", leave_out="ae")
    (tmp_path / "models" / "clip_l.safetensors").unlink()
    (tmp_path / "models" / COMPANION_FILES["t5xxl"]).unlink()
    with pytest.raises(PlanRefused) as refused:  # F-COMPANION: all three named, not only the first
        plan_for(tmp_path, model={"family": "flux", "path": str(model)})
    assert [p.split(" needs ")[1].split(" ")[0] for p in refused.value.problems] == ["clip_l", "t5xxl", "ae"]
    assert str(refused.value).endswith("(and 2 more)")
    # One companion given: checked on its own key and accepted though the plan still misses two.
    assert check_override("clip_l", str(tmp_path / "clip_l.safetensors"), "flux") == str(tmp_path / "clip_l.safetensors")
    with pytest.raises(UserError, match=r"not an argument of flux_train_network\.py"):
        check_override("clip_g", "x.safetensors", "flux")
    with pytest.raises(PlanRefused) as both:  # every bad override is named, not only the first
        plan_for(tmp_path, model={"family": "sd1"}, overrides={"network_dimm": "8", "max_train_steps": "lots"})
    assert len(both.value.problems) == 2


def test_where_the_doc_is_silent_the_guides_rank_rule_applies_and_alpha_follows(tmp_path):
    """F-RANK with the guide's T-RANK: a subject the model already knows trains at rank 8; the docs say
    nothing of it, so their alpha / rank (and lr) are kept."""
    def known(root: Path, family: str) -> Any:
        model = model_with_companions(root, family)
        return plan_for(root, model={"family": family, "path": str(model), "knows_subject": True})

    plan = known(tmp_path / "f", "flux")
    assert _triple(plan) == (8, 0.5, 1e-4) and "the guide's T-RANK" in plan.decision("network_dim").reason
    anima = known(tmp_path / "a", "anima")
    assert _triple(anima) == (8, 1.0, 1e-4)  # the doc's own rank is 8 already


def test_inspect_gives_a_dit_its_familys_native_resolution_and_no_sd_only_answers(tmp_path, capsys):
    """F-RES: `kohyawiz inspect` on a DiT says the family's resolution instead of 'not stated', and does not
    offer v-prediction or zSNR, which flow-matching models do not use."""
    from kohyawiz.cli import main

    for family, resolution in (("flux", 1024), ("hunyuan-image", 2048)):
        model = header_file(tmp_path / f"{family}.safetensors", HEADERS[family])
        assert main(["inspect", str(model)]) == 0
        out = capsys.readouterr().out
        assert f"native resolution: {resolution} (the family's" in out and "not used (flow matching)" in out
        assert "no sign of it" not in out
