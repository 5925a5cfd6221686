"""One phase of a plan on the GPU, with random full-size weights from sd-scripts' own classes.

    SD_PYTHON bench/phase_probe.py '{"family": "flux", "phase": "training", ...}'

Run by bench/vram_gpu.py with sd-scripts' Python (torch with CUDA), one process per phase so
nvidia-smi's per-process figure is that phase's. Prints one line `KOHYAWIZ_PHASE={json}` with
torch.cuda.max_memory_allocated and max_memory_reserved in GiB.

training: the denoiser at the plan's dtype (bf16 / fp16 weights, no fp8: the matrix plans cards
where sd-scripts keeps half-precision weights), the family's LoRA module at the plan's rank,
gradient checkpointing as planned, the plan's optimizer (AdamW, AdamW8bit, Prodigy), three steps at
the plan's resolution and batch. text_encoder_caching: T5-XXL (transformers' T5EncoderModel at its
published shape) encoding 512 tokens without gradients. latent_caching: the SD/Flux VAE
(diffusers AutoencoderKL) encoding one image at the plan's resolution.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

GIB = 1024**3
REPO = Path(__file__).resolve().parent.parent
# A smoke run without a GPU (tests/test_memory.py): the same code on the CPU, at the size given.
DEVICE = os.environ.get("KOHYAWIZ_PROBE_DEVICE", "cuda")


def _optimizer(name: str, params: list[Any]) -> Any:
    import torch

    lowered = name.lower()
    if lowered.startswith("adamw8bit"):
        import bitsandbytes as bnb

        return bnb.optim.AdamW8bit(params, lr=1e-4)
    if lowered.startswith("prodigy"):
        from prodigyopt import Prodigy

        return Prodigy(params, lr=1.0)
    return torch.optim.AdamW(params, lr=1e-4)


def training(spec: dict[str, Any]) -> None:
    import torch

    sys.path.insert(0, str(REPO / "tools"))
    import activation_facts as facts

    family, dtype = spec["family"], torch.float16 if spec.get("mixed_precision") == "fp16" else torch.bfloat16
    with torch.device("meta"):
        model = facts.build(family)
    model = model.to_empty(device=DEVICE).to(dtype)
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0, 0.02)
        for b in model.buffers():
            if b.is_floating_point():
                b.zero_()
    facts._restore_buffers(family, model)
    model.requires_grad_(False)
    if hasattr(model, "set_use_sdpa"):
        model.set_use_sdpa(True)
    facts.LORA_DIM = int(spec.get("network_dim") or 16)
    facts.apply_lora(family, model)
    model._kohyawiz_network.to(DEVICE)
    if spec.get("gradient_checkpointing"):
        facts.enable_checkpointing(model)
    model.train()
    params = [p for p in model._kohyawiz_network.parameters() if p.requires_grad]
    optimizer = _optimizer(str(spec.get("optimizer_type") or "AdamW"), params)
    for _step in range(3):
        with torch.device(DEVICE):
            call, _x = facts.inputs(family, int(spec["size"]), dtype)
        with torch.autocast(DEVICE, dtype=dtype):
            out = call(model)
        out.float().pow(2).mean().backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)


def text_encoder_caching(spec: dict[str, Any]) -> None:
    import torch
    from transformers import T5Config, T5EncoderModel

    config = T5Config(d_model=4096, d_ff=10240, num_layers=24, num_heads=64, d_kv=64, vocab_size=32128,
                      feed_forward_proj="gated-gelu", is_encoder_decoder=False)  # fmt: skip
    with torch.device("meta"):
        model = T5EncoderModel(config)
    model = model.to_empty(device=DEVICE).to(torch.bfloat16)
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0, 0.02)
        tokens = torch.randint(0, 32000, (1, 512), device=DEVICE)
        model(input_ids=tokens)


def latent_caching(spec: dict[str, Any]) -> None:
    import torch
    from diffusers import AutoencoderKL

    channels = 4 if spec["family"] in ("sd1", "sd2", "sdxl") else 16
    vae = AutoencoderKL(latent_channels=channels, block_out_channels=(128, 256, 512, 512),
                        down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4,
                        layers_per_block=2).to(DEVICE)  # fmt: skip
    dtype = torch.float32 if spec.get("no_half_vae") or spec["family"] in ("sd1", "sd2", "sdxl") else torch.bfloat16
    vae = vae.to(dtype)
    with torch.no_grad():
        image = torch.randn(1, 3, int(spec["size"]), int(spec["size"]), device=DEVICE, dtype=dtype)
        vae.encode(image)


PHASES = {"training": training, "text_encoder_caching": text_encoder_caching, "latent_caching": latent_caching}


def main() -> int:
    import torch

    spec = json.loads(sys.argv[1])
    root = Path(os.environ.get("SD_SCRIPTS", "/work/sd/sd-scripts")).resolve()
    sys.path.insert(0, str(root))
    os.chdir(root)
    start = time.monotonic()
    result: dict[str, Any] = {"phase": spec["phase"]}
    try:
        gpu = DEVICE == "cuda"
        if gpu:
            torch.cuda.reset_peak_memory_stats()
        PHASES[spec["phase"]](spec)
        if gpu:
            torch.cuda.synchronize()
            result["allocated_gb"] = round(torch.cuda.max_memory_allocated() / GIB, 3)
            result["reserved_gb"] = round(torch.cuda.max_memory_reserved() / GIB, 3)
    except Exception as exc:  # the row says what failed; the matrix goes on
        result["error"] = f"{type(exc).__name__}: {str(exc)[:300]}"
    result["seconds"] = round(time.monotonic() - start, 1)
    print("KOHYAWIZ_PHASE=" + json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
