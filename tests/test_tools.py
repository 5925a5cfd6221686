"""The model inspector, prepare (raw never changes) and the tag tools."""

from __future__ import annotations

import hashlib
import io
import json
import os
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from kohyawiz.errors import UserError
from kohyawiz.models import inspect_model


def fake_safetensors(path: Path, tensors: dict[str, list[int]], metadata: dict[str, str] | None = None) -> Path:
    """A header with real-looking tensor names and shapes; the data is never read."""
    header: dict = {name: {"dtype": "F16", "shape": shape, "data_offsets": [0, 0]} for name, shape in tensors.items()}
    if metadata:
        header["__metadata__"] = metadata
    raw = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(raw)) + raw)
    return path


UNET_K = "model.diffusion_model.input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight"


def test_inspect_names_sd1_sd2_sdxl(tmp_path):
    sd1 = fake_safetensors(
        tmp_path / "sd1.safetensors",
        {UNET_K: [320, 768], "cond_stage_model.transformer.text_model.embeddings.token_embedding.weight": [49408, 768]},
    )
    sd2 = fake_safetensors(
        tmp_path / "sd2.safetensors",
        {UNET_K: [320, 1024], "cond_stage_model.model.transformer.resblocks.0.attn.in_proj_weight": [3072, 1024]},
    )
    xl = fake_safetensors(
        tmp_path / "xl.safetensors",
        {"model.diffusion_model.input_blocks.4.1.transformer_blocks.0.attn2.to_k.weight": [640, 2048], "conditioner.embedders.1.model.ln_final.weight": [1280], "v_pred": [0], "ztsnr": [0]},
    )  # fmt: skip
    assert inspect_model(str(sd1)).family == "sd1" and inspect_model(str(sd1)).native_resolution is None
    assert inspect_model(str(sd2)).family == "sd2"
    info = inspect_model(str(xl))
    assert (info.family, info.vpred, info.zsnr, info.native_resolution) == ("sdxl", True, True, 1024)


def test_inspect_lora_and_metadata_hints(tmp_path):
    lora = fake_safetensors(
        tmp_path / "l.safetensors",
        {"lora_unet_down_blocks_0_attentions_0_proj_in.lora_down.weight": [32, 320]},
        {"ss_network_module": "networks.lora"},
    )
    assert inspect_model(str(lora)).kind == "lora"
    vp = fake_safetensors(
        tmp_path / "v.safetensors",
        {UNET_K: [320, 1024]},
        {"modelspec.prediction_type": "v", "modelspec.resolution": "768x768"},
    )
    info = inspect_model(str(vp))
    assert info.vpred and info.native_resolution == 768


def test_inspect_diffusers_folder_and_bad_input(tmp_path):
    folder = tmp_path / "model"
    (folder / "unet").mkdir(parents=True)
    (folder / "scheduler").mkdir()
    (folder / "model_index.json").write_text(json.dumps({"_class_name": "StableDiffusionPipeline"}))
    (folder / "unet" / "config.json").write_text(json.dumps({"cross_attention_dim": 1024, "sample_size": 96}))
    (folder / "scheduler" / "scheduler_config.json").write_text(
        json.dumps({"prediction_type": "v_prediction", "rescale_betas_zero_snr": True})
    )
    info = inspect_model(str(folder))
    assert (info.family, info.vpred, info.zsnr, info.native_resolution) == ("sd2", True, True, 768)
    (tmp_path / "junk.safetensors").write_bytes(b"\xff" * 20)
    with pytest.raises(UserError):
        inspect_model(str(tmp_path / "junk.safetensors"))
    with pytest.raises(UserError, match="Hugging Face cache"):
        inspect_model("someone/not-cached-model")


def test_plan_fills_model_answers_from_the_header_and_refuses_a_lora(tmp_path):
    xl = fake_safetensors(
        tmp_path / "xl.safetensors", {"model.diffusion_model.label_emb.0.0.weight": [1280, 2816], "v_pred": [0]}
    )
    run = subprocess.run(
        [sys.executable, "-m", "kohyawiz", "plan", "--model", str(xl), "--subject", "object", "--vram", "24", "--concept", "x=30", "--out", str(tmp_path / "p")],
        capture_output=True, text=True,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    plan = json.loads((tmp_path / "p" / "plan.json").read_text())
    assert plan["script"] == "sdxl_train_network.py" and plan["answers"]["model"]["vpred"] is True
    assert any("from the model's header" in f["message"] for f in plan["findings"])
    lora = fake_safetensors(
        tmp_path / "l.safetensors", {"lora_te_text_model_encoder_layers_0_mlp_fc1.lora_down.weight": [8, 768]}
    )
    bad = subprocess.run(
        [sys.executable, "-m", "kohyawiz", "plan", "--model", str(lora), "--family", "sd1", "--subject", "object", "--vram", "8", "--concept", "x=30", "--out", str(tmp_path / "q")],
        capture_output=True, text=True,
    )  # fmt: skip
    assert bad.returncode == 2 and "is a LoRA" in bad.stderr


def _png(size, mode="RGB", color=(200, 10, 10)):
    from PIL import Image

    buffer = io.BytesIO()
    Image.new(mode, size, color if mode == "RGB" else (*color, 0)).save(buffer, format="PNG")
    return buffer.getvalue()


def digest(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def test_D_RAW_prepare_fixes_copies_and_never_touches_raw(tmp_path):
    pytest.importorskip("PIL")
    from PIL import Image

    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "alpha.png").write_bytes(_png((64, 64), "RGBA"))
    (raw / "huge.png").write_bytes(_png((3600, 1200)))
    (raw / "fine.png").write_bytes(_png((512, 512)))
    (raw / "fine.txt").write_text("x, smile")
    buffer = io.BytesIO()
    Image.new("RGB", (32, 16)).save(buffer, format="WEBP")
    (raw / "wiki.webp").write_bytes(buffer.getvalue())
    (raw / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nxx")
    before = digest(raw)
    into = tmp_path / "train" / "1_x"
    run = subprocess.run(
        [sys.executable, "-m", "kohyawiz", "prepare", str(raw), "--into", str(into), "--webp-to-png"],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 1 and "broken.png: unreadable" in run.stdout  # one image skipped, said so
    assert digest(raw) == before
    with Image.open(into / "alpha.png") as image:
        assert image.mode == "RGB" and image.getpixel((0, 0)) == (255, 255, 255)
    with Image.open(into / "huge.png") as image:
        assert max(image.size) == 3000
    assert (into / "wiki.png").is_file() and (into / "fine.txt").read_text() == "x, smile"
    assert (into / "fine.png").read_bytes() == (raw / "fine.png").read_bytes()
    first = digest(into)
    again = subprocess.run(
        [sys.executable, "-m", "kohyawiz", "prepare", str(raw), "--into", str(into), "--webp-to-png"],
        capture_output=True,
        text=True,
    )
    assert digest(into) == first and again.stdout.count("unchanged") == 4
    assert digest(raw) == before


def test_D_CAPTION_tag_tools_dry_run_then_write(tmp_path):
    from conftest import make_folder

    folder = make_folder(tmp_path, "1_hmbrgr", [(64, 64)] * 3, "food, hmbrgr, food, german shepherd, dog")
    (folder / "img001.txt").write_text("hmbrgr, plate")
    (folder / "img002.txt").unlink()
    before = (folder / "img000.txt").read_text()
    dry = subprocess.run([sys.executable, "-m", "kohyawiz", "tags", str(tmp_path)], capture_output=True, text=True)
    assert dry.returncode == 0 and "+ hmbrgr, food, german shepherd" in dry.stdout and "would change" in dry.stdout
    assert (folder / "img000.txt").read_text() == before
    wrote = subprocess.run(
        [sys.executable, "-m", "kohyawiz", "tags", str(tmp_path), "--write"], capture_output=True, text=True
    )
    assert wrote.returncode == 0
    assert (folder / "img000.txt").read_text().strip() == "hmbrgr, food, german shepherd"
    assert (folder / "img002.txt").read_text().strip() == "hmbrgr"
    assert (folder / "img001.txt").read_text() == "hmbrgr, plate"
    again = subprocess.run([sys.executable, "-m", "kohyawiz", "tags", str(tmp_path)], capture_output=True, text=True)
    assert "already" in again.stdout


def test_inspect_a_hub_id_through_huggingface_hubs_cache(tmp_path, monkeypatch):
    """Offline first: the id is resolved by huggingface-hub's own cache lookup, small files only."""
    import importlib

    import huggingface_hub.constants

    repo = tmp_path / "hub" / "models--someone--xl-model"
    snapshot = repo / "snapshots" / "c0ffee"
    (snapshot / "unet").mkdir(parents=True)
    (snapshot / "scheduler").mkdir()
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("c0ffee")
    (snapshot / "model_index.json").write_text(json.dumps({"_class_name": "StableDiffusionXLPipeline"}))
    (snapshot / "unet" / "config.json").write_text(json.dumps({"cross_attention_dim": 2048, "sample_size": 128}))
    (snapshot / "scheduler" / "scheduler_config.json").write_text(json.dumps({"prediction_type": "v_prediction"}))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    importlib.reload(huggingface_hub.constants)
    try:
        info = inspect_model("someone/xl-model")
        assert (info.family, info.vpred, info.native_resolution) == ("sdxl", True, 1024)
        assert info.source == "someone/xl-model"
        with pytest.raises(UserError, match="not in the local Hugging Face cache"):
            inspect_model("someone/absent")
        with pytest.raises(UserError):
            inspect_model("bad id with spaces/x")
    finally:
        monkeypatch.undo()
        importlib.reload(huggingface_hub.constants)


DIT_HEADERS = {
    "flux": {"double_blocks.0.img_attn.qkv.weight": [9216, 3072], "single_blocks.0.linear1.weight": [21504, 3072],
             "img_in.weight": [3072, 64], "guidance_in.in_layer.weight": [3072, 256]},
    "chroma": {"double_blocks.0.img_attn.qkv.weight": [9216, 3072], "single_blocks.0.linear1.weight": [21504, 3072],
               "img_in.weight": [3072, 64], "distilled_guidance_layer.in_proj.weight": [5120, 64]},
    "sd3": {"model.diffusion_model.joint_blocks.0.context_block.attn.qkv.weight": [4608, 1536],
            "model.diffusion_model.x_embedder.proj.weight": [1536, 16, 2, 2],
            "text_encoders.clip_l.transformer.text_model.final_layer_norm.weight": [768]},
    "lumina": {"cap_embedder.1.weight": [2304, 2304], "context_refiner.0.attention.qkv.weight": [6912, 2304],
               "noise_refiner.0.attention.qkv.weight": [6912, 2304]},
    "anima": {"net.llm_adapter.blocks.0.cross_attn.q_proj.weight": [1024, 1024], "net.t_embedder.1.linear_1.weight": [2048, 2048],
              "net.blocks.0.self_attn.q_proj.weight": [2048, 2048], "net.x_embedder.proj.1.weight": [2048, 68],
              "net.t_embedding_norm.weight": [2048]},
    "hunyuan-image": {"double_blocks.0.img_attn_qkv.weight": [10752, 3584], "single_blocks.0.linear1.weight": [1, 1],
                      "img_in.proj.weight": [3584, 64, 1, 1], "byt5_in.fc1.weight": [2048, 1472]},
}  # fmt: skip


@pytest.mark.parametrize("family", sorted(DIT_HEADERS))
def test_inspect_names_the_diffusion_transformers_from_headers_alone(tmp_path, family):
    from kohyawiz.families import family_spec

    path = fake_safetensors(tmp_path / f"{family}.safetensors", DIT_HEADERS[family])
    info = inspect_model(str(path))
    assert info.family == family and info.kind == "checkpoint"
    assert any("needs" in note for note in info.notes)  # its companion files are named
    assert info.answers()["family"] == family
    run = subprocess.run([sys.executable, "-m", "kohyawiz", "plan", "--model", str(path), "--subject", "character",
                          "--vram", "24", "--concept", "a=30", "--out", str(tmp_path / "p")],
                         capture_output=True, text=True)  # fmt: skip
    spec = family_spec(family)
    missing = spec.companions[0]
    assert run.returncode == 2 and "Traceback" not in run.stderr, run.stderr
    assert f"needs {missing.arg}" in run.stderr and f"--set {missing.arg}=PATH" in run.stderr
    if family == "flux":
        assert any("dev" in n for n in info.notes)


REAL_CLASSES = """
import json, sys, torch
sys.path.insert(0, ".")
from library import anima_models, chroma_models, flux_models, hunyuan_image_models, lumina_models
anima = dict(max_img_h=512, max_img_w=512, max_frames=128, in_channels=16, out_channels=16, patch_spatial=2,
             patch_temporal=1, model_channels=2048, use_adaln_lora=True, num_blocks=2, use_llm_adapter=True,
             pos_emb_cls="rope3d", pos_emb_learnable=True)
with torch.device("meta"):
    models = {"flux": flux_models.Flux(flux_models.configs["dev"].params),
              "chroma": chroma_models.Chroma(chroma_models.chroma_params),
              "lumina": lumina_models.NextDiT_2B_GQA_patch2_Adaln_Refiner(),
              "anima": anima_models.Anima(**anima),
              "hunyuan-image": hunyuan_image_models.HYImageDiffusionTransformer()}
    print(json.dumps({name: list(m.state_dict()) for name, m in models.items()}))
"""


@pytest.mark.sdscripts
@pytest.mark.skipif(
    not (os.environ.get("KOHYAWIZ_SD_SCRIPTS") and os.environ.get("KOHYAWIZ_SD_PYTHON")),
    reason="set KOHYAWIZ_SD_SCRIPTS, KOHYAWIZ_SD_PYTHON",
)
def test_the_real_model_classes_are_named_by_their_keys():
    """Opt-in: sd-scripts' own model classes, built on the meta device, and their state-dict keys
    (also with the `net.` and `model.diffusion_model.` prefixes checkpoints carry)."""
    from kohyawiz.models import _dit_family

    run = subprocess.run([os.environ["KOHYAWIZ_SD_PYTHON"], "-c", REAL_CLASSES], cwd=os.environ["KOHYAWIZ_SD_SCRIPTS"],
                         capture_output=True, text=True, timeout=600)  # fmt: skip
    keys = json.loads(run.stdout.strip().splitlines()[-1])
    for family, names in keys.items():
        assert _dit_family(names) == family
        assert _dit_family([f"model.diffusion_model.{k}" for k in names]) == family
    assert _dit_family(["net." + k for k in keys["anima"]]) == "anima"
