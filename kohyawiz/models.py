"""What a model file is, from its header alone: family (SD1 / SD2 / SDXL), v-prediction and zSNR
hints, native resolution, and whether it is a LoRA rather than a base model. No torch needed."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kohyawiz.errors import UserError
from kohyawiz.safetensors_header import read_safetensors_header
from kohyawiz.values import written_as_path

CROSS_ATTENTION_WIDTH = {768: "sd1", 1024: "sd2", 2048: "sdxl"}
# The architecture alone says little for SD1: base 1.5 is 512 but most finetunes reach 768 (T-RES),
# so SD1 gets a native resolution only from the file's own metadata.
NATIVE = {"sd2": 768, "sdxl": 1024}
LORA_MARKERS = ("lora_unet_", "lora_te", "lora_down", "lora_up", "hada_w1", "lokr_w1", "oft_blocks", ".alpha")


@dataclass
class ModelInfo:
    source: str
    kind: str
    """"checkpoint", "diffusers" or "lora"."""
    family: str | None
    vpred: bool = False
    zsnr: bool = False
    native_resolution: int | None = None
    blocks: int | None = None
    """Transformer blocks of a DiT (what block swapping counts)."""
    params: int | None = None
    """Parameters of the whole file, from the tensor shapes in its header."""
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)

    def answers(self) -> dict[str, Any]:
        """What the plan's model answers can take from this (families kohyawiz plans)."""
        out: dict[str, Any] = {}
        if self.family is not None:
            out["family"] = self.family
        if self.vpred:
            out["vpred"] = True
        if self.zsnr:
            out["zsnr"] = True
        if self.native_resolution:
            out["native_resolution"] = self.native_resolution
        if self.blocks:
            out["blocks"] = self.blocks
        if self.params:
            out["params"] = self.params
        return out


def _hints_from_metadata(info: ModelInfo, metadata: Any) -> None:
    if not isinstance(metadata, dict):
        info.notes.append("its __metadata__ is not a table: ignored")
        return
    prediction = str(metadata.get("modelspec.prediction_type", "")).lower()
    if prediction in ("v", "v_prediction", "v-prediction"):
        info.vpred = True
        info.notes.append("metadata says v-prediction")
    if str(metadata.get("ss_v_parameterization", "")).lower() == "true":
        info.vpred = True
    if (
        str(metadata.get("ss_zero_terminal_snr", "")).lower() == "true"
        or "ztsnr" in str(metadata.get("modelspec.title", "")).lower()
    ):
        info.zsnr = True
    resolution = str(metadata.get("modelspec.resolution", ""))
    if "x" in resolution:
        with contextlib.suppress(ValueError):
            info.native_resolution = max(int(v) for v in resolution.split("x"))


# Diffusion transformers sd-scripts trains (its *_train_network.py), told apart by the top-level
# modules of their own model classes (library/flux_models.py, chroma_models.py, sd3_models.py,
# lumina_models.py, anima_models.py, hunyuan_image_models.py), most specific first.
DIT_FAMILIES: tuple[tuple[str, tuple[str, ...], tuple[str, ...]], ...] = (
    ("chroma", ("distilled_guidance_layer.", "double_blocks."), ()),
    ("hunyuan-image", ("byt5_in.", "double_blocks."), ()),
    ("flux", ("double_blocks.", "single_blocks.", "img_in."), ()),
    ("sd3", ("joint_blocks.", "x_embedder.proj."), ()),
    ("lumina", ("cap_embedder.", "context_refiner."), ()),
    ("anima", ("t_embedding_norm.", "t_embedder.", "x_embedder.", "blocks."), ()),
)
# Which blocks block swapping moves, by family (the models' enable_block_swap).
_SWAP_BLOCKS = {"sd3": "joint_blocks.", "lumina": "layers.", "anima": "blocks."}


def companions_text(family: str) -> str:
    from kohyawiz.families import family_spec

    spec = family_spec(family)
    names = [f"{c.arg} ({c.what})" for c in spec.companions]
    held = " unless the checkpoint holds them" if any(c.held_key for c in spec.companions) else ""
    return ", ".join(names) + held


def trainer_text(family: str) -> str:
    from kohyawiz.families import family_spec

    spec = family_spec(family)
    return spec.script + (f" --model_type {spec.model_type}" if spec.model_type else "")


def family_conflict(stated: str, info: ModelInfo, given_by: str) -> str | None:
    """One line naming both when the family someone gave is not the one the model's header shows
    (sd-scripts would fail to load the file); None when they agree or the header cannot tell."""
    from kohyawiz.families import SPECS

    if info.kind == "lora" or info.family is None or info.family == stated or stated not in SPECS:
        return None
    said, found = SPECS[stated], SPECS[info.family]
    notes = f", {info.notes[0]}" if info.notes else ""
    return (f"{given_by} {stated} ({said.label}), but the model's header says {info.family} ({found.label}{notes}): "
            f"{trainer_text(stated)} cannot load it")  # fmt: skip


def _count_blocks(keys: list[str], prefix: str) -> int | None:
    indices = set()
    for key in keys:
        if key.startswith(prefix):
            head = key[len(prefix):].split(".", 1)[0]
            if head.isdigit():
                indices.add(int(head))
    return len(indices) or None


def param_count(header: dict[str, Any]) -> int | None:
    total = 0
    for spec in header.values():
        shape = spec.get("shape") if isinstance(spec, dict) else None
        if not isinstance(shape, list) or not all(isinstance(n, int) and n >= 0 for n in shape):
            return None
        count = 1
        for n in shape:
            count *= n
        total += count
    return total or None


DTYPE_BYTES = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "F8_E4M3": 1, "F8_E5M2": 1, "I8": 1, "U8": 1}


def tensor_summary(header: dict[str, Any]) -> tuple[int, int] | None:
    """(parameters, bytes per parameter of the dtype that holds most of them), from a header."""
    counts: dict[int, int] = {}
    for name, spec in header.items():
        if name == "__metadata__" or not isinstance(spec, dict):
            continue
        shape = spec.get("shape")
        if not isinstance(shape, list) or not all(isinstance(n, int) and n >= 0 for n in shape):
            return None
        count = 1
        for n in shape:
            count *= n
        size = DTYPE_BYTES.get(str(spec.get("dtype")), 2)
        counts[size] = counts.get(size, 0) + count
    if not counts:
        return None
    return sum(counts.values()), max(counts, key=lambda k: counts[k])


def _dit_family(keys: list[str]) -> str | None:
    stripped = [k.removeprefix("model.diffusion_model.").removeprefix("net.") for k in keys]
    for family, needed, absent in DIT_FAMILIES:
        if all(any(k.startswith(n) for k in stripped) for n in needed) and not any(
            k.startswith(a) for k in stripped for a in absent
        ):
            return family
    return None


def inspect_safetensors(path: Path) -> ModelInfo:
    header = read_safetensors_header(path)
    metadata = header.pop("__metadata__", {}) or {}
    keys = list(header)
    is_lora = any(any(marker in key for marker in LORA_MARKERS[:7]) for key in keys[:2000])
    info = ModelInfo(str(path), "lora" if is_lora else "checkpoint", None)
    if is_lora:
        module = metadata.get("ss_network_module", "")
        base = str(metadata.get("ss_base_model_version", ""))
        info.family = (
            "sdxl" if "sdxl" in base or any("lora_te2_" in k for k in keys) else ("sd2" if "v2" in base else None)
        )
        info.notes.append(f"a LoRA ({module or 'network'}), not a base model: pick the checkpoint it was trained on")
    elif (dit := _dit_family(keys)) is not None:
        info.family = dit
        if dit == "flux":
            guided = any(k.removeprefix("model.diffusion_model.").startswith("guidance_in.") for k in keys)
            info.notes.append("Flux.1 dev (guidance-distilled)" if guided else "Flux.1 schnell (no guidance input)")
        if dit == "sd3" and any(k.startswith("text_encoders.") for k in keys):
            info.notes.append("holds its text encoders")
        stripped = [k.removeprefix("model.diffusion_model.").removeprefix("net.") for k in keys]
        if dit in _SWAP_BLOCKS:
            info.blocks = _count_blocks(stripped, _SWAP_BLOCKS[dit])
        dit_only = {k: v for k, v in header.items() if not k.startswith(("text_encoders.", "first_stage_model."))}
        info.params = param_count(dit_only)
        info.notes.append(f"trained by {trainer_text(dit)}; it needs {companions_text(dit)}")
    else:
        width = None
        for key in keys:
            if key.endswith("attn2.to_k.weight") or key.endswith("attn2.to_k.weight".replace(".", "_")):
                shape = header[key].get("shape") if isinstance(header[key], dict) else None
                if isinstance(shape, list) and len(shape) == 2:
                    width = shape[1]
                    break
        xl_marks = ("conditioner.embedders.1", "label_emb.0", "add_embedding.linear_1", "text_encoder_2.")
        if any(k.startswith(xl_marks) or f".{xl_marks[1]}" in k for k in keys):
            info.family = "sdxl"
        elif width in CROSS_ATTENTION_WIDTH:
            info.family = CROSS_ATTENTION_WIDTH[width]
        elif any("cond_stage_model.model.transformer" in k for k in keys):
            info.family = "sd2"
        elif any("cond_stage_model.transformer" in k for k in keys):
            info.family = "sd1"
        if width:
            info.notes.append(f"cross-attention width {width}")
        if "v_pred" in header:
            info.vpred = True
            info.notes.append("has a v_pred marker key")
        if "ztsnr" in header:
            info.zsnr = True
            info.notes.append("has a ztsnr marker key")
    _hints_from_metadata(info, metadata)
    if info.kind == "lora":
        info.native_resolution = None
    elif info.family in NATIVE and not info.native_resolution:
        info.native_resolution = 768 if info.family == "sd2" and info.vpred else NATIVE[info.family]
        if info.family == "sd2" and not info.vpred:
            info.native_resolution = 512
    return info


def inspect_diffusers(folder: Path) -> ModelInfo:
    def read(name: str) -> dict[str, Any]:
        from kohyawiz.door import read_json

        if not (folder / name).is_file():
            return {}
        try:
            data = read_json(folder / name, "diffusers config")
        except UserError:
            return {}
        return data if isinstance(data, dict) else {}

    index, unet, scheduler = read("model_index.json"), read("unet/config.json"), read("scheduler/scheduler_config.json")
    if not index and not unet:
        raise UserError("is a folder but not a diffusers model (no model_index.json or unet/config.json)",
                        where=str(folder))  # fmt: skip
    info = ModelInfo(str(folder), "diffusers", None)
    pipeline = str(index.get("_class_name", ""))
    width = unet.get("cross_attention_dim")
    if "XL" in pipeline or width == 2048:
        info.family = "sdxl"
    elif width in CROSS_ATTENTION_WIDTH:
        info.family = CROSS_ATTENTION_WIDTH[width]
    if scheduler.get("prediction_type") == "v_prediction":
        info.vpred = True
    if scheduler.get("rescale_betas_zero_snr"):
        info.zsnr = True
    size = unet.get("sample_size")
    if isinstance(size, int) and size > 0 and info.family in NATIVE:
        info.native_resolution = size * 8
    info.notes.append(f"diffusers {pipeline or 'folder'}" + (f", cross-attention width {width}" if width else ""))
    return info


# The small files that tell a diffusers model's family, v-prediction and zSNR: never weights.
HUB_CONFIG_FILES = ("model_index.json", "unet/config.json", "scheduler/scheduler_config.json")


def hf_cache_snapshot(model_id: str, *, online: bool = False) -> Path | None:
    """A local folder with a Hugging Face model's config files, through huggingface-hub's own
    cache API: the cache first; with `online`, only the small config files are fetched."""
    try:
        from huggingface_hub import snapshot_download
        from huggingface_hub.errors import HFValidationError
    except ImportError:
        return None
    try:
        return Path(snapshot_download(model_id, allow_patterns=list(HUB_CONFIG_FILES), local_files_only=True))
    except HFValidationError as exc:
        raise UserError(f"not a Hugging Face model id ({exc})", where=model_id) from exc
    except Exception:  # not cached (or a damaged cache): try the network only when asked
        if not online:
            return None
    try:
        return Path(snapshot_download(model_id, allow_patterns=list(HUB_CONFIG_FILES)))
    except Exception as exc:
        raise UserError(f"could not fetch its config files from the Hugging Face Hub ({type(exc).__name__})",
                        where=model_id) from exc  # fmt: skip


def inspect_model(name: str, *, online: bool = False) -> ModelInfo:
    path = Path(name).expanduser()
    try:
        path.stat()
    except FileNotFoundError:
        pass
    except OSError as exc:  # a name too long, a folder without access
        raise UserError(f"cannot be read ({exc.strerror})", where=name[:200]) from None
    if path.is_file():
        if path.suffix.lower() != ".safetensors":
            raise UserError(
                "only .safetensors headers can be read without torch; convert the .ckpt or name the family with --family",
                where=name,
            )
        return inspect_safetensors(path)
    if path.is_dir():
        return inspect_diffusers(path)
    if "/" in name and not written_as_path(name):
        snapshot = hf_cache_snapshot(name, online=online)
        if snapshot is None:
            raise UserError(
                "not in the local Hugging Face cache: `kohyawiz inspect --online` fetches its config files only, "
                "or pass --family",
                where=name,
            )
        info = inspect_diffusers(snapshot)
        info.source = name
        return info
    here = "" if path.is_absolute() else f" (looked for from {Path.cwd()})"
    raise UserError(f"no such file or folder{here}", where=name)
