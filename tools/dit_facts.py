"""Read the diffusion transformers' parameter counts off sd-scripts' real model classes and LoRA
modules, built on torch's meta device, into the [<family>] tables of vendor/memory.toml.

    KOHYAWIZ_SD_SCRIPTS=.sd-scripts .sd-venv/bin/python tools/dit_facts.py

Writes vendor/memory-dit.toml: per family, dit (the transformer's parameters), max_swap (the
most blocks its enable_block_swap takes) and lora_per_dim (trainable LoRA parameters per unit of
network_dim, DiT only: kohyawiz trains DiT-only networks for these families). The activation
figures stay hand-kept in vendor/memory.toml.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any


def build(family: str) -> tuple[Any, int]:
    from library import anima_models, flux_models, hunyuan_image_models, lumina_models, sd3_models

    if family in ("flux", "chroma"):
        if family == "chroma":
            from library import chroma_models

            model = chroma_models.Chroma(chroma_models.chroma_params)
        else:
            model = flux_models.Flux(flux_models.configs["dev"].params)
        return model, 35
    if family == "sd3":
        # SD3.5 large (38 joint blocks); the plan takes the real count off the checkpoint's header.
        params = sd3_models.SD3Params(
            patch_size=2, depth=38, num_patches=36864, pos_embed_max_size=192, adm_in_channels=2048,
            qk_norm="rms", x_block_self_attn_layers=[], context_embedder_in_features=4096,
            context_embedder_out_features=2432, model_type="sd3_5_large",
        )  # fmt: skip
        model = sd3_models.create_sd3_mmdit(params)
        return model, 36
    if family == "lumina":
        model = lumina_models.NextDiT_2B_GQA_patch2_Adaln_Refiner()
        return model, len(model.layers) - 2
    if family == "anima":
        config = {
            "max_img_h": 512, "max_img_w": 512, "max_frames": 128, "in_channels": 16, "out_channels": 16,
            "patch_spatial": 2, "patch_temporal": 1, "model_channels": 2048, "concat_padding_mask": True,
            "crossattn_emb_channels": 1024, "pos_emb_cls": "rope3d", "pos_emb_learnable": True,
            "pos_emb_interpolation": "crop", "min_fps": 1, "max_fps": 30, "use_adaln_lora": True,
            "adaln_lora_dim": 256, "num_blocks": 28, "num_heads": 16, "extra_per_block_abs_pos_emb": False,
            "rope_h_extrapolation_ratio": 4.0, "rope_w_extrapolation_ratio": 4.0, "rope_t_extrapolation_ratio": 1.0,
            "extra_h_extrapolation_ratio": 1.0, "extra_w_extrapolation_ratio": 1.0, "extra_t_extrapolation_ratio": 1.0,
            "rope_enable_fps_modulation": False, "use_llm_adapter": True,
        }  # fmt: skip (anima_utils.py load_anima_model's fixed config)
        return anima_models.Anima(**config), 26
    model = hunyuan_image_models.HYImageDiffusionTransformer()
    return model, 37


MODULES = {
    "flux": "networks.lora_flux", "chroma": "networks.lora_flux", "sd3": "networks.lora_sd3",
    "lumina": "networks.lora_lumina", "anima": "networks.lora_anima", "hunyuan-image": "networks.lora_hunyuan_image",
}  # fmt: skip


def lora_per_dim(family: str, model: Any) -> int:
    import importlib

    import torch

    module = importlib.import_module(MODULES[family])
    counts = []
    for dim in (1, 2):
        kwargs: dict[str, str] = {}
        # Lumina's module always wraps a text encoder; an empty module stands in for Gemma2.
        encoders = [torch.nn.Module()] if family == "lumina" else []
        net = module.create_network(1.0, dim, 1.0, None, encoders, model, **kwargs)
        loras = getattr(net, "unet_loras", None) or getattr(net, "loras", [])
        counts.append(sum(p.numel() for m in loras for n, p in m.named_parameters() if not n.startswith("org_module")))
    return counts[1] - counts[0]


REPO = Path(__file__).resolve().parent.parent


def main() -> None:
    import torch

    root = Path(os.environ.get("KOHYAWIZ_SD_SCRIPTS", ".sd-scripts")).resolve()
    sys.path.insert(0, str(root))
    os.chdir(root)
    lines = [
        "# Diffusion transformers' parameter counts, read off sd-scripts main-48d368fa's model classes and",
        "# LoRA modules on the meta device by tools/dit_facts.py. Do not edit by hand; rerun the tool.",
    ]
    for family in ("flux", "chroma", "sd3", "lumina", "anima", "hunyuan-image"):
        with torch.device("meta"):
            model, max_swap = build(family)
        dit = sum(p.numel() for p in model.parameters())
        try:
            per_dim = lora_per_dim(family, model)
        except Exception as exc:  # a module that cannot wrap meta weights: said, not guessed
            print(f"# {family}: LoRA count failed: {type(exc).__name__}: {exc}", file=sys.stderr)
            per_dim = 0
        lines += ["", f'["{family}"]', f"dit = {dit}", f"max_swap = {max_swap}", f"lora_per_dim = {per_dim}"]
    target = REPO / "vendor" / "memory-dit.toml"
    target.write_text("\n".join(lines) + "\n")
    print(f"wrote {target}")


if __name__ == "__main__":
    main()
