"""Flux.1 (dev, schnell) and Chroma: flux_train_network.py, read off docs/flux_train_network.md
and the trainer's assert_extra_args."""

from __future__ import annotations

from kohyawiz.families.base import Companion, DocRecipe, FamilySpec, Setting

DOC = "docs/flux_train_network.md"
CLIP_L = Companion("clip_l", "the CLIP-L text encoder", ("clip_l*.safetensors", "*clip_l*.safetensors"))
T5XXL = Companion("t5xxl", "the T5-XXL text encoder", ("t5xxl*.safetensors", "*t5xxl*.safetensors", "*t5*xxl*.safetensors"))
AE = Companion("ae", "the Flux autoencoder (VAE)", ("ae.safetensors", "flux*ae*.safetensors", "*ae.safetensors", "*flux*vae*.safetensors"))
# blocks_to_swap splits into double and single blocks (flux_models.py enable_block_swap): 19 double
# and 38 single blocks allow at most 35. The doc's table assumes fp8_base on every row; 16 GB
# asks for swapping without a number, so the memory model's figure stands there.
# Section 4's example command; Chroma's ("Training Chroma Models") keeps the rest of it.
RECIPE = DocRecipe(16, 1.0, 1e-4, "adamw8bit", "constant", f"{DOC}, 4. Running the Training",
                   f"{DOC}, 6.7 and 6.8: the dataset examples train at [1024, 1024]")
SWAP_TABLE = ((8.0, 28, True), (10.0, 22, True), (12.0, 16, True), (16.0, 8, True), (24.0, 0, True))

FLUX = FamilySpec(
    "flux", "Flux.1 (dev or schnell)", "flux_train_network.py", DOC, dit=True,
    network_module="networks.lora_flux", companions=(CLIP_L, T5XXL, AE),
    bucket_multiple=64,  # its own check asks for 32, the base class's for 64
    resolution=1024, vram_tiers=(16.0, 24.0), recipe=RECIPE,
    flow=(
        Setting("timestep_sampling", "shift", "the doc's recommended settings: shift sampling"),
        Setting("discrete_flow_shift", 3.1582, "the doc's recommended shift for shift sampling"),
        Setting("model_prediction_type", "raw", "the doc recommends raw predictions"),
        Setting("guidance_scale", 1.0, "dev is guidance-distilled; 1.0 switches guidance off for training (default 3.5)", "F-GUIDANCE"),
    ),
    fp8_arg="fp8_base", max_swap=35, swap_table=SWAP_TABLE, attention="sdpa",
    sample_options="--s 20 --g 3.5",
)  # fmt: skip

CHROMA = FamilySpec(
    "chroma", "Chroma", "flux_train_network.py", DOC, dit=True,
    network_module="networks.lora_flux", model_type="chroma", companions=(T5XXL, AE),
    bucket_multiple=64, resolution=1024, vram_tiers=(16.0, 24.0), recipe=RECIPE,
    flow=(
        Setting("timestep_sampling", "sigmoid", "the doc recommends sigmoid sampling for Chroma"),
        Setting("model_prediction_type", "raw", "the doc recommends raw predictions"),
        Setting("guidance_scale", 0.0, "Chroma is not guidance-distilled: 0.0 is required", "F-GUIDANCE"),
        Setting("apply_t5_attn_mask", True, "the trainer stops without the T5 attention mask for Chroma", "F-MASK"),
    ),
    fp8_arg="fp8_base", max_swap=35, swap_table=SWAP_TABLE, attention="sdpa",
    sample_options="--n {negative} --s 20 --l 4.0 --g 0.0",
)  # fmt: skip
