"""Lumina Image 2.0: lumina_train_network.py, read off docs/lumina_train_network.md."""

from __future__ import annotations

from kohyawiz.families.base import Companion, DocRecipe, FamilySpec, Setting

DOC = "docs/lumina_train_network.md"
LUMINA = FamilySpec(
    "lumina", "Lumina Image 2.0", "lumina_train_network.py", DOC, dit=True,
    network_module="networks.lora_lumina",
    companions=(
        Companion("gemma2", "the Gemma2 2B text encoder", ("gemma*2*.safetensors", "*gemma*.safetensors")),
        Companion("ae", "the autoencoder (Flux's VAE)", ("ae.safetensors", "*ae.safetensors", "*vae*.safetensors")),
    ),
    bucket_multiple=64,  # its own check asks for 16, the base class's for 64
    resolution=1024, vram_tiers=(12.0, 24.0),
    recipe=DocRecipe(8, 8.0, 1e-4, "adamw", "constant", f"{DOC}, 4. Running the Training",
                     "the doc is silent: Lumina 2's native 1024 (the guide's T-RES)"),
    flow=(
        Setting("timestep_sampling", "nextdit_shift", "the doc's recommended sampling"),
        Setting("discrete_flow_shift", 6.0, "the doc's recommended shift"),
        Setting("model_prediction_type", "raw", "the doc recommends raw predictions"),
    ),
    precision="bf16", fp8_arg="fp8_base", max_swap=24,  # 26 layers in the 2B model, two stay
    attention="own", sample_options="--n {negative} --s 30 --l 4.0 --ctr 0.25 --rcfg 1.0",
    extra=(
        Setting("system_prompt", "You are an assistant designed to generate high-quality images based on user prompts.",
                "the doc's general-purpose system prompt, put before every caption", "F-PROMPTS"),
    ),
)  # fmt: skip
