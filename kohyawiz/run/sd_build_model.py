"""Run by sd-scripts' own Python (cwd = the checkout), never imported by kohyawiz: builds a model
with random weights from sd-scripts' own model classes, at the smallest size its loaders accept,
so that a whole training run can be tried on a machine with no model and no GPU. The sizes are
the ones sd-scripts' loaders build (their constructor arguments are recorded from the loader
itself, never written down here); only what a loader reads from the checkpoint is made small.

    python sd_build_model.py FAMILY OUT_DIR

Prints one JSON line: the model file, its companion files by sd-scripts argument, the parameter
counts, and which parts are real (sd-scripts' tokenizer files) and which are random. A folder
built before is reused (its built.json is printed again).
"""

from __future__ import annotations

# This folder holds kohyawiz modules (queue.py, ...) that must not shadow the standard library in
# sd-scripts' interpreter, which puts a script's own folder first on sys.path.
import os.path
import sys

if sys.path and sys.path[0] and os.path.realpath(sys.path[0]) == os.path.dirname(os.path.realpath(__file__)):
    sys.path.pop(0)

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

SEED = 20261201
BUILT = "built.json"


class Recorded(Exception):
    """Raised in place of a model constructor: its arguments are what the loader builds."""

    def __init__(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        super().__init__("constructor arguments recorded")
        self.args, self.kwargs = args, kwargs


def loader_arguments(module: Any, name: str, call_loader: Callable[[], Any]) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """The arguments sd-scripts' loader passes to `module.name`, without loading any weights."""
    original = getattr(module, name)

    def record(*args: Any, **kwargs: Any) -> Any:
        raise Recorded(args, kwargs)

    setattr(module, name, record)
    try:
        call_loader()
    except Recorded as recorded:
        return recorded.args, recorded.kwargs
    finally:
        setattr(module, name, original)
    raise RuntimeError(f"sd-scripts' loader did not build {name}: this sd-scripts version loads it differently")


def parameters(module: Any) -> int:
    return sum(p.numel() for p in module.parameters())


def small_qwen3(folder: Path, config_dir: Path) -> dict[str, Any]:
    """A Qwen3 causal LM in transformers' folder format: the hidden size the DiT's adapter reads
    (the 0.6B config's own), one layer, and the real tokenizer built offline from the checkout's
    vocab.json and merges.txt."""
    import torch
    import transformers

    config = transformers.Qwen3Config.from_pretrained(str(config_dir), local_files_only=True)
    config.num_hidden_layers, config.max_window_layers, config.intermediate_size = 1, 1, 256
    config.torch_dtype = torch.bfloat16
    model = transformers.Qwen3ForCausalLM(config).to(torch.bfloat16)
    model.save_pretrained(str(folder), safe_serialization=True)
    tokenizer = transformers.AutoTokenizer.from_pretrained(str(config_dir), local_files_only=True)
    tokenizer.save_pretrained(str(folder))
    return {"parameters": parameters(model), "layers": 1, "hidden_size": config.hidden_size}


def build_anima(out: Path) -> dict[str, Any]:
    """Anima: the DiT at the size anima_utils.load_anima_model builds (it takes no size from the
    checkpoint, so it is full size), the Qwen-Image VAE at qwen_image_autoencoder_kl's size, and a
    one-layer Qwen3 as a folder."""
    import torch
    from library import anima_models, anima_utils, qwen_image_autoencoder_kl
    from safetensors.torch import save_file

    _, dit_kwargs = loader_arguments(
        anima_models, "Anima", lambda: anima_utils.load_anima_model("cpu", "-", "torch", False, "cpu", torch.bfloat16)
    )
    torch.manual_seed(SEED)
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.bfloat16)  # 2.1 B parameters: built in bf16, never in float32
    try:
        dit = anima_models.Anima(**dit_kwargs)
    finally:
        torch.set_default_dtype(previous)
    dit_parameters = parameters(dit)
    model = out / "anima-random.safetensors"
    anima_utils.save_anima_model(str(model), dit.state_dict(), {"kohyawiz": "random weights"})
    del dit

    vae = qwen_image_autoencoder_kl.AutoencoderKLQwenImage()  # load_vae's config is the class's defaults
    vae_file = out / "qwen_image_vae-random.safetensors"
    save_file({k: v.to(torch.bfloat16).contiguous() for k, v in vae.state_dict().items()}, str(vae_file))
    qwen3 = out / "qwen3-random"
    qwen3_facts = small_qwen3(qwen3, Path.cwd() / "configs" / "qwen3_06b")
    return {
        "model": str(model),
        "companions": {"qwen3": str(qwen3), "vae": str(vae_file)},
        "parameters": {"dit": dit_parameters, "vae": parameters(vae), "qwen3": qwen3_facts["parameters"]},
        "random": ["DiT (full size, 28 blocks)", "Qwen-Image VAE (full size)", "Qwen3 (1 layer, hidden 1024)"],
        "real": ["Qwen3 tokenizer (configs/qwen3_06b)", "T5 tokenizer (configs/t5_old)"],
    }


BUILDERS: dict[str, Callable[[Path], dict[str, Any]]] = {"anima": build_anima}


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] not in BUILDERS:
        print(json.dumps({"error": f"usage: sd_build_model.py {'|'.join(BUILDERS)} OUT_DIR"}))
        return 2
    family, out = argv[0], Path(argv[1]).resolve()
    built = out / BUILT
    if built.is_file():
        facts = json.loads(built.read_text(encoding="utf-8"))
        if facts.get("family") == family and all(Path(p).exists() for p in [facts["model"], *facts["companions"].values()]):
            print(json.dumps({**facts, "reused": True}))
            return 0
    out.mkdir(parents=True, exist_ok=True)
    sys.path.insert(0, str(Path.cwd()))
    facts = {"family": family, **BUILDERS[family](out)}
    partial = built.with_suffix(".partial")
    partial.write_text(json.dumps(facts, indent=2), encoding="utf-8")
    partial.replace(built)  # written last: a folder without it was never finished
    print(json.dumps({**facts, "reused": False}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
