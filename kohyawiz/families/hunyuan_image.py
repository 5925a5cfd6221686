"""HunyuanImage-2.1: hunyuan_image_train_network.py, read off docs/hunyuan_image_train_network.md."""

from __future__ import annotations

from kohyawiz.families.base import Companion, DocRecipe, FamilySpec, Setting

DOC = "docs/hunyuan_image_train_network.md"
HUNYUAN_IMAGE = FamilySpec(
    "hunyuan-image", "HunyuanImage-2.1", "hunyuan_image_train_network.py", DOC, dit=True,
    network_module="networks.lora_hunyuan_image",
    companions=(
        Companion("text_encoder", "the Qwen2.5-VL text encoder", ("qwen*2.5*vl*.safetensors", "*qwen*vl*.safetensors")),
        Companion("byt5", "the byT5 text encoder", ("byt5*.safetensors", "*byt5*.safetensors")),
        Companion("vae", "the HunyuanImage-2.1 VAE", ("hunyuan*image*vae*.safetensors", "*hunyuan*vae*.safetensors", "*vae*.safetensors")),
    ),
    bucket_multiple=64,  # its own check asks for 32, the base class's for 64
    # The base model was trained at 2K only; the doc advises against other resolutions.
    resolution=2048, vram_tiers=(24.0, 40.0),
    recipe=DocRecipe(16, 1.0, 1e-4, "adamw8bit", "constant", f"{DOC}, 4. Running the Training",
                     f"{DOC}, 6.4 (not trained for other resolutions) and 8 (most stable at 2048x2048)"),
    flow=(
        Setting("model_prediction_type", "raw", "the doc's recommended (and default) prediction type"),
        Setting("discrete_flow_shift", 5.0, "the doc's recommended shift"),
    ),
    precision="bf16", fp8_arg="fp8_scaled", max_swap=37,
    # The doc's table; every row below 40 GB uses fp8_scaled.
    swap_table=((8.0, 37, True), (12.0, 32, True), (24.0, 9, True)),
    text_encoder_trainable=False, attention="attn_mode", sample_options="--n {negative} --s 20",
)  # fmt: skip
