"""Run by sd-scripts' own Python (cwd = the checkout), never imported by kohyawiz: builds a model
with random weights from sd-scripts' own model classes, at the smallest size its loaders accept,
so that a whole training run can be tried on a machine with no model and no GPU. The sizes are
the ones sd-scripts' loaders build (their constructor arguments are recorded from the loader
itself, never written down here); only what a loader reads from the checkpoint is made small.

    python sd_build_model.py anima|flux|sd3 OUT_DIR

Families with CLIP text encoders (flux, sd3) copy their CLIP tokenizer from $TOKENIZER_CACHE_DIR
(a --tokenizer_cache_dir style folder: no checkout ships one); the T5 and Qwen3 tokenizers are
made offline from the checkout's configs/. Prints one JSON line: the model file, its companion files by sd-scripts argument, the parameter
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


def loader_arguments(
    module: Any, name: str, call_loader: Callable[[], Any], replacement: Any = None
) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """The arguments sd-scripts' loader passes to `module.name` (or, with `replacement`, to what the
    loader calls on it), without loading any weights."""
    original = getattr(module, name)

    def record(*args: Any, **kwargs: Any) -> Any:
        raise Recorded(args, kwargs)

    setattr(module, name, replacement or record)
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
        "args": {},
        "parameters": {"dit": dit_parameters, "vae": parameters(vae), "qwen3": qwen3_facts["parameters"]},
        "random": ["DiT (full size, 28 blocks)", "Qwen-Image VAE (full size)", "Qwen3 (1 layer, hidden 1024)"],
        "real": ["Qwen3 tokenizer (configs/qwen3_06b)", "T5 tokenizer (configs/t5_old)"],
    }


def stored_parameters(path: Path) -> int:
    """The parameter count in a safetensors file's header."""
    with path.open("rb") as file:
        header = json.loads(file.read(int.from_bytes(file.read(8), "little")))
    count = 0
    for key, value in header.items():
        if key != "__metadata__":
            size = 1
            for dim in value["shape"]:
                size *= dim
            count += size
    return count


def write_streamed(path: Path, model: Any, parts: list[tuple[str, Any]], init: Callable[[Any], None]) -> int:
    """Write a model too big to hold twice (T5-XXL: 4.7 B parameters) as bf16 safetensors, one part
    at a time: each part of the meta-device `model` is made real, initialised by `init`, written and
    dropped. The header comes first, so every tensor's shape and offset is known before any data."""
    import torch

    names: list[tuple[str, str, Any]] = []  # (key, part prefix, tensor name inside the part)
    header: dict[str, Any] = {}
    offset = 0
    for prefix, part in parts:
        for name, tensor in part.state_dict().items():
            key = f"{prefix}.{name}" if prefix else name
            size = tensor.numel() * 2
            header[key] = {"dtype": "BF16", "shape": list(tensor.shape), "data_offsets": [offset, offset + size]}
            names.append((key, prefix, name))
            offset += size
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)
    with path.open("wb") as out:
        out.write(len(raw).to_bytes(8, "little") + raw)
        for prefix, part in parts:
            part.to_empty(device="cpu")
            init(part)
            tensors = part.state_dict()
            for _key, _prefix, name in (n for n in names if n[1] == prefix):
                out.write(tensors[name].detach().to(torch.bfloat16).contiguous().view(torch.int16).numpy().tobytes())
            part.to("meta")
    del model
    return offset // 2


def t5_tokenizer(cache: Path, checkout: Path, model_id: str) -> None:
    """The T5 tokenizer where sd-scripts' --tokenizer_cache_dir looks for `model_id`, made offline
    from the checkout's configs/t5_old."""
    from transformers import T5TokenizerFast

    source = checkout / "configs" / "t5_old"
    tokenizer = T5TokenizerFast(vocab_file=str(source / "spiece.model"), tokenizer_file=str(source / "tokenizer.json"))
    tokenizer.save_pretrained(str(cache / model_id.replace("/", "_")))


CLIP_L_ID = "openai/clip-vit-large-patch14"


def clip_tokenizers(cache: Path, model_ids: list[str]) -> None:
    """CLIP tokenizers for --tokenizer_cache_dir under each id a trainer asks for, copied from the
    CLIP-L one in $TOKENIZER_CACHE_DIR (the checkout ships none, and CLIP's vocabulary cannot be
    made from what it has; CLIP-G's tokenizer is CLIP-L's)."""
    import shutil

    source = Path(os.environ.get("TOKENIZER_CACHE_DIR") or "-") / CLIP_L_ID.replace("/", "_")
    if not source.is_dir():
        raise SystemExit(json.dumps({"error": f"this family needs a CLIP tokenizer: set TOKENIZER_CACHE_DIR to a folder holding {source.name}"}))
    for model_id in model_ids:
        shutil.copytree(source, cache / model_id.replace("/", "_"), dirs_exist_ok=True)


class FromConfig:
    """Stands in for a transformers class whose `_from_config` a loader calls."""

    @staticmethod
    def _from_config(config: Any) -> Any:
        raise Recorded((config,), {})


def random_t5xxl(path: Path) -> int:
    """T5-XXL's encoder at the size flux_utils.load_t5xxl builds (SD3's loader calls it too), with
    transformers' own T5 initialisation, written part by part. A T5 built for another family in
    the same build folder is linked, not written again (9.5 GB)."""
    import torch
    import transformers
    from library import flux_utils

    path.unlink(missing_ok=True)  # left by a build that stopped
    for other in path.parent.parent.glob(f"*/{path.name}"):
        if other != path and other.is_file():
            os.link(other, path)
            return stored_parameters(path)
    config = loader_arguments(flux_utils, "T5EncoderModel", lambda: flux_utils.load_t5xxl(None, torch.bfloat16, "cpu", state_dict={}),
                              replacement=FromConfig)[0][0]  # fmt: skip
    with torch.device("meta"):
        t5 = transformers.T5EncoderModel(config)

    def init(part: Any) -> None:
        for tensor in part.parameters():
            torch.nn.init.normal_(tensor, std=0.02)  # the shared embedding: T5's own init leaves it to the model
        part.apply(t5._init_weights)

    parts = [("shared", t5.shared), *[(f"encoder.block.{i}", b) for i, b in enumerate(t5.encoder.block)],
             ("encoder.final_layer_norm", t5.encoder.final_layer_norm)]  # fmt: skip
    return write_streamed(path, t5, parts, init)


def build_flux(out: Path) -> dict[str, Any]:
    """Flux.1 dev with one double and one single block (flux_utils.load_flow_model counts the blocks
    in the checkpoint), its autoencoder at flux_models' size, CLIP-L and T5-XXL at the sizes
    flux_utils.load_clip_l and load_t5xxl build (both fixed there, so full size)."""
    import dataclasses

    import torch
    from library import flux_models, flux_utils, strategy_flux
    from safetensors.torch import save_file

    torch.manual_seed(SEED)
    spec = flux_models.configs[flux_utils.MODEL_NAME_DEV]
    params = dataclasses.replace(spec.params, depth=1, depth_single_blocks=1)
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.bfloat16)
    try:
        dit = flux_models.Flux(params)
        ae = flux_models.AutoEncoder(spec.ae_params)
    finally:
        torch.set_default_dtype(previous)
    model = out / "flux1-dev-random.safetensors"
    save_file({k: v.contiguous() for k, v in dit.state_dict().items()}, str(model))
    ae_file = out / "ae-random.safetensors"
    save_file({k: v.contiguous() for k, v in ae.state_dict().items()}, str(ae_file))
    counts = {"dit": parameters(dit), "ae": parameters(ae)}
    del dit, ae

    clip_config = loader_arguments(flux_utils, "CLIPTextModel", lambda: flux_utils.load_clip_l(None, torch.bfloat16, "cpu", state_dict={}),
                                   replacement=FromConfig)[0][0]  # fmt: skip
    import transformers

    clip = transformers.CLIPTextModel(clip_config).to(torch.bfloat16)
    clip_file = out / "clip_l-random.safetensors"
    save_file({k: v.contiguous() for k, v in clip.state_dict().items()}, str(clip_file))
    counts["clip_l"] = parameters(clip)
    del clip
    t5_file = out / "t5xxl-random.safetensors"
    counts["t5xxl"] = random_t5xxl(t5_file)
    tokenizers = out / "tokenizers"
    t5_tokenizer(tokenizers, Path.cwd(), strategy_flux.T5_XXL_TOKENIZER_ID)
    clip_tokenizers(tokenizers, [strategy_flux.CLIP_L_TOKENIZER_ID])
    return {
        "model": str(model),
        "companions": {"clip_l": str(clip_file), "t5xxl": str(t5_file), "ae": str(ae_file)},
        "args": {"tokenizer_cache_dir": str(tokenizers)},
        "parameters": counts,
        "random": ["Flux.1 dev DiT (1 double + 1 single block)", "Flux autoencoder (full size)",
                   "CLIP-L (full size)", "T5-XXL encoder (full size, 24 layers)"],
        "real": ["T5 tokenizer (configs/t5_old)", "CLIP-L tokenizer (from $TOKENIZER_CACHE_DIR)"],
    }


def build_sd3(out: Path) -> dict[str, Any]:
    """SD3 with a two-block MMDiT (sd3_utils.analyze_state_dict_state reads depth, width, patch
    grid and context size from the checkpoint: width is 64 per block), SD3's VAE (sd3_models.SDVAE),
    CLIP-L and CLIP-G at the sizes sd3_utils builds, and the full-size T5-XXL."""
    import torch
    import transformers
    from library import sd3_models, sd3_utils, strategy_sd3
    from safetensors.torch import save_file

    torch.manual_seed(SEED)
    depth = 2
    params = sd3_models.SD3Params(
        patch_size=2, depth=depth, num_patches=32 * 32, pos_embed_max_size=32, adm_in_channels=768 + 1280,
        qk_norm=None, x_block_self_attn_layers=[], context_embedder_in_features=4096,
        context_embedder_out_features=64 * depth, model_type="medium",
    )  # pooled CLIP-L + CLIP-G, T5-XXL's width; a 32x32 patch grid covers 512 px
    mmdit = sd3_models.create_sd3_mmdit(params)
    mmdit.initialize_weights()  # the constructor leaves pos_embed empty (the loader fills it from the file)
    mmdit = mmdit.to(torch.bfloat16)
    counts = {"mmdit": parameters(mmdit)}
    model = out / "sd3-medium-random.safetensors"
    save_file({f"model.diffusion_model.{k}": v.contiguous() for k, v in mmdit.state_dict().items()}, str(model))
    del mmdit
    files: dict[str, str] = {}
    for arg, loader in (("clip_l", sd3_utils.load_clip_l), ("clip_g", sd3_utils.load_clip_g)):

        def call(loader: Callable[..., Any] = loader) -> Any:
            return loader("-", torch.bfloat16, "cpu")

        config = loader_arguments(sd3_utils, "CLIPTextModelWithProjection", call)[0][0]
        clip = transformers.CLIPTextModelWithProjection(config).to(torch.bfloat16)
        files[arg] = str(out / f"{arg}-random.safetensors")
        save_file({k: v.contiguous() for k, v in clip.state_dict().items()}, files[arg])
        counts[arg] = parameters(clip)
        del clip
    vae = sd3_models.SDVAE(torch.float32, "cpu")
    files["vae"] = str(out / "sd3_vae-random.safetensors")
    save_file({k: v.contiguous() for k, v in vae.state_dict().items()}, files["vae"])
    counts["vae"] = parameters(vae)
    t5_file = out / "t5xxl-random.safetensors"
    counts["t5xxl"] = random_t5xxl(t5_file)
    files["t5xxl"] = str(t5_file)
    tokenizers = out / "tokenizers"
    t5_tokenizer(tokenizers, Path.cwd(), strategy_sd3.T5_XXL_TOKENIZER_ID)
    clip_tokenizers(tokenizers, [strategy_sd3.CLIP_L_TOKENIZER_ID, strategy_sd3.CLIP_G_TOKENIZER_ID])
    return {
        "model": str(model), "companions": files, "args": {"tokenizer_cache_dir": str(tokenizers)},
        "parameters": counts,
        "random": [f"SD3 MMDiT ({depth} blocks)", "SD3 VAE (full size)", "CLIP-L and CLIP-G (full size)",
                   "T5-XXL encoder (full size, 24 layers)"],
        "real": ["T5 tokenizer (configs/t5_old)", "CLIP tokenizer for CLIP-L and CLIP-G (from $TOKENIZER_CACHE_DIR)"],
    }  # fmt: skip


BUILDERS: dict[str, Callable[[Path], dict[str, Any]]] = {"anima": build_anima, "flux": build_flux, "sd3": build_sd3}


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(json.dumps({"error": f"usage: sd_build_model.py {'|'.join(BUILDERS)} OUT_DIR"}))
        return 2
    if argv[0] not in BUILDERS:
        print(json.dumps({"error": f"no random {argv[0]} model: kohyawiz builds {', '.join(BUILDERS)}"}))
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
