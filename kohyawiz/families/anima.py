"""Anima: anima_train_network.py, read off docs/anima_train_network.md and the trainer."""

from __future__ import annotations

from kohyawiz.families.base import Companion, DocRecipe, FamilySpec, Setting

DOC = "docs/anima_train_network.md"
ANIMA = FamilySpec(
    "anima", "Anima", "anima_train_network.py", DOC, dit=True,
    network_module="networks.lora_anima",
    companions=(
        Companion("qwen3", "the Qwen3 0.6B text encoder", ("qwen3*.safetensors", "*qwen3*.safetensors", "qwen_3*.safetensors", "*qwen_3_*.safetensors", "*qwen*0.6b*.safetensors"),
                  folder_ok=True),
        Companion("vae", "the Qwen-Image VAE", ("qwen*image*vae*.safetensors", "*qwen*vae*.safetensors", "*vae*.safetensors", "*vae*.pth")),
    ),
    bucket_multiple=16, resolution=1024, vram_tiers=(10.0, 16.0),
    # The example passes no network_alpha: its note says 1e-4 is for the default alpha 1.0.
    recipe=DocRecipe(8, 1.0, 1e-4, "adamw8bit", "constant", f"{DOC}, 4. Running the Training",
                     "the doc is silent: Anima's native 1024 (the guide's T-RES)"),
    flow=(
        Setting("timestep_sampling", "sigmoid", "the doc's default and example: sigmoid sampling"),
        Setting("discrete_flow_shift", 1.0, "the doc's example shift"),
    ),
    precision="bf16", fp8_arg=None,  # the trainer switches fp8_base off with a warning
    max_swap=26,  # the 28-block model; two blocks stay on the GPU
    attention="attn_mode", sample_options="--n {negative} --s 30",
    extra=(
        Setting("vae_chunk_size", 64, "the doc's example chunks the Qwen-Image VAE to save memory", "F-VAE"),
        Setting("vae_disable_cache", True, "the doc's example turns the VAE's internal cache off to save memory", "F-VAE"),
    ),
)  # fmt: skip
