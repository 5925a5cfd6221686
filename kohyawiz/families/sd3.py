"""SD3 and SD3.5: sd3_train_network.py, read off docs/sd3_train_network.md and the trainer."""

from __future__ import annotations

from kohyawiz.families.base import Companion, DocRecipe, FamilySpec

DOC = "docs/sd3_train_network.md"
# A single-file SD3.5 checkpoint may hold its text encoders and VAE (library/sd3_utils.py looks
# for these keys before it loads a separate file).
SD3 = FamilySpec(
    "sd3", "SD3 / SD3.5", "sd3_train_network.py", DOC, dit=True,
    # The doc's example names networks.lora, but its per-layer network_args are those of
    # networks/lora_sd3.py, the module written for the MMDiT.
    network_module="networks.lora_sd3",
    companions=(
        Companion("clip_l", "the CLIP-L text encoder", ("clip_l*.safetensors", "*clip_l*.safetensors"),
                  "text_encoders.clip_l.transformer.text_model.embeddings.position_embedding.weight"),
        Companion("clip_g", "the CLIP-G text encoder", ("clip_g*.safetensors", "*clip_g*.safetensors"),
                  "text_encoders.clip_g.transformer.text_model.embeddings.position_embedding.weight"),
        Companion("t5xxl", "the T5-XXL text encoder", ("t5xxl*.safetensors", "*t5xxl*.safetensors"),
                  "text_encoders.t5xxl.transformer.encoder.block.0.layer.0.SelfAttention.k.weight"),
        Companion("vae", "the SD3 VAE", ("sd3*vae*.safetensors", "*vae*.safetensors"), "first_stage_model."),
    ),
    bucket_multiple=32, resolution=1024, vram_tiers=(12.0, 24.0),
    recipe=DocRecipe(16, 1.0, 1e-4, "adamw8bit", "constant", f"{DOC}, 4. Running the Training",
                     "the doc is silent: SD3's native 1024 (the guide's T-RES)"),
    fp8_arg="fp8_base", max_swap=22, attention="sdpa",
    sample_options="--n {negative} --s 28 --l 5",
)  # fmt: skip
