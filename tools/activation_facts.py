"""Measure activation memory on sd-scripts' own model classes, without a GPU, into
vendor/memory-activations.toml.

    flock /work/sd/heavy.lock env KOHYAWIZ_SD_SCRIPTS=/work/sd/sd-scripts \\
        /work/sd/venv/bin/python tools/activation_facts.py [--only flux] [--check]

Each family's denoiser (library/original_unet.py, sdxl_original_unet.py, flux_models.py, ...) is
built under torch's FakeTensorMode (no weights, no memory), wrapped with the family's own LoRA
module (networks/lora.py, lora_flux.py, ...) as kohyawiz plans it, and run forward and backward
at two training resolutions, batch 1, with and without gradient checkpointing, in bf16 autocast
as sd-scripts' mixed precision does. What autograd keeps for the backward pass is counted with
torch.autograd.graph.saved_tensors_hooks (each storage once, the model's own parameters left
out); the inputs torch.utils.checkpoint keeps at each checkpointed block are counted by wrapping
it. The transient peak is the largest single block's saved bytes: with checkpointing, backward
recomputes one block at a time and holds that block's activations and their gradients.

Attention runs through F.scaled_dot_product_attention under sdpa_kernel(FLASH_ATTENTION): the
CPU flash kernel keeps what the CUDA flash / memory-efficient kernels keep (q, k, v, output and
the log-sum-exp), not the N x N matrix of the math path; sd-scripts picks sdpa on a GPU.

The figures are GiB per megapixel of training pixels (slope between the two resolutions) plus a
per-image constant (text tokens, embeddings): activations(mp) = base + per_mp * mp.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
GIB = 1024**3
OUT = REPO / "vendor" / "memory-activations.toml"
# Two training sizes per family (pixels per side); the slope between them is per_mp.
SIZES = {"hunyuan-image": (1024, 2048)}
DEFAULT_SIZES = (512, 1024)
FAMILIES = ("sd1", "sd2", "sdxl", "flux", "chroma", "sd3", "lumina", "anima", "hunyuan-image")
LORA_DIM = 16


class SavedBytes:
    """Bytes autograd saves for backward, each storage once; parameters are not activations."""

    def __init__(self, params: set[int]) -> None:
        self.params = params
        self.seen: set[int] = set()
        self.total = 0
        self.by_block: dict[str, int] = {}
        self.block: str | None = None

    def _key(self, tensor: Any) -> int:
        return int(tensor.untyped_storage()._cdata)

    def add(self, tensor: Any) -> None:
        key = self._key(tensor)
        if key in self.params or key in self.seen:
            return
        self.seen.add(key)
        size = int(tensor.untyped_storage().nbytes())
        self.total += size
        if self.block is not None:
            self.by_block[self.block] = self.by_block.get(self.block, 0) + size

    def pack(self, tensor: Any) -> Any:
        self.add(tensor)
        return tensor


@contextlib.contextmanager
def counting_checkpoints(saved: SavedBytes) -> Iterator[None]:
    """torch.utils.checkpoint keeps its inputs outside saved_tensors_hooks: count them too."""
    import torch
    import torch.utils.checkpoint as ckpt

    original = ckpt.checkpoint

    def counted(function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        for value in list(args) + list(kwargs.values()):
            if isinstance(value, torch.Tensor):
                saved.add(value)
        return original(function, *args, **kwargs)

    patched = [(ckpt, "checkpoint")]
    for name, module in list(sys.modules.items()):
        if name.startswith(("library.", "networks.")) and getattr(module, "checkpoint", None) is original:
            patched.append((module, "checkpoint"))
        if name.startswith("library.") and getattr(module, "torch_checkpoint", None) is original:
            patched.append((module, "torch_checkpoint"))
    for module, attr in patched:
        setattr(module, attr, counted)
    try:
        yield
    finally:
        for module, attr in patched:
            setattr(module, attr, original)


BLOCK_LISTS = ("double_blocks", "single_blocks", "joint_blocks", "layers", "blocks", "input_blocks",
               "middle_block", "output_blocks", "down_blocks", "mid_block", "up_blocks")  # fmt: skip


def block_lists(model: Any) -> list[tuple[str, Any]]:
    """The model's repeated blocks as (list name, block), whose saved bytes are kept per block."""
    import torch

    found = []
    for name in BLOCK_LISTS:
        value = getattr(model, name, None)
        if isinstance(value, torch.nn.ModuleList | torch.nn.Sequential):
            found.extend((name, block) for block in value)
        elif isinstance(value, torch.nn.Module):
            found.append((name, value))
    return found


# Families whose forward reads values back (a mask's length with .item()), which FakeTensorMode
# cannot answer: measured on the CPU with real tensors, one block of each list at full width,
# and scaled to the real block counts (each block of a list keeps the same bytes).
REDUCED = ("chroma", "lumina", "hunyuan-image")


def truncate_blocks(model: Any) -> dict[str, int]:
    """Keep one block of each list; return how many each list had."""
    import torch

    full = {}
    for name in BLOCK_LISTS:
        value = getattr(model, name, None)
        if isinstance(value, torch.nn.ModuleList) and len(value) > 1:
            full[name] = len(value)
            setattr(model, name, torch.nn.ModuleList([value[0]]))
    return full


def sd_unet(family: str) -> Any:
    from library import model_util, original_unet, sdxl_original_unet

    if family == "sdxl":
        return sdxl_original_unet.SdxlUNet2DConditionModel()
    v2 = family == "sd2"
    return original_unet.UNet2DConditionModel(**model_util.create_unet_diffusers_config(v2, v2))


def build(family: str) -> Any:
    if family in ("sd1", "sd2", "sdxl"):
        return sd_unet(family)
    sys.path.insert(0, str(REPO / "tools"))
    from dit_facts import build as build_dit

    return build_dit(family)[0]


NETWORK = {
    "sd1": "networks.lora", "sd2": "networks.lora", "sdxl": "networks.lora",
    "flux": "networks.lora_flux", "chroma": "networks.lora_flux", "sd3": "networks.lora_sd3",
    "lumina": "networks.lora_lumina", "anima": "networks.lora_anima", "hunyuan-image": "networks.lora_hunyuan_image",
}  # fmt: skip


def apply_lora(family: str, model: Any) -> None:
    import torch

    module = importlib.import_module(NETWORK[family])
    encoders = [torch.nn.Module()] if family == "lumina" else []
    net = module.create_network(1.0, LORA_DIM, 1.0, None, encoders, model)
    net.apply_to(encoders, model, apply_text_encoder=False, apply_unet=True)
    for p in net.parameters():
        p.requires_grad_(True)
    model._kohyawiz_network = net  # keeps the LoRA modules alive


def inputs(family: str, size: int, dtype: Any) -> tuple[Callable[[Any], Any], Any]:
    """A call of the model as the family's trainer makes it, and the noisy input (requires grad)."""
    import torch

    lat = size // 8
    if family in ("sd1", "sd2", "sdxl"):
        x = torch.randn(1, 4, lat, lat, dtype=dtype, requires_grad=True)
        t = torch.tensor([500])
        ctx = torch.randn(1, 77, {"sd1": 768, "sd2": 1024, "sdxl": 2048}[family], dtype=dtype)
        if family == "sdxl":
            vec = torch.randn(1, 2816, dtype=dtype)
            return (lambda m: m(x, t, ctx, vec)), x
        return (lambda m: m(x, t, ctx).sample), x
    if family in ("flux", "chroma"):
        tokens = (lat // 2) ** 2
        img = torch.randn(1, tokens, 64, dtype=dtype, requires_grad=True)
        ids = torch.zeros(1, tokens, 3)
        txt = torch.randn(1, 512, 4096, dtype=dtype)
        txt_ids = torch.zeros(1, 512, 3)
        y = torch.randn(1, 768, dtype=dtype)
        ts = torch.tensor([0.5], dtype=dtype)
        if family == "chroma":
            mask = torch.ones(1, 512, dtype=torch.bool)
            return (lambda m: m(img=img, img_ids=ids, txt=txt, txt_ids=txt_ids, y=y, timesteps=ts,
                                guidance=torch.zeros(1, dtype=dtype), txt_attention_mask=mask)), img  # fmt: skip
        return (lambda m: m(img=img, img_ids=ids, txt=txt, txt_ids=txt_ids, y=y, timesteps=ts,
                            guidance=torch.ones(1, dtype=dtype))), img  # fmt: skip
    if family == "sd3":
        x = torch.randn(1, 16, lat, lat, dtype=dtype, requires_grad=True)
        ctx = torch.randn(1, 77 + 256, 4096, dtype=dtype)
        y = torch.randn(1, 2048, dtype=dtype)
        return (lambda m: m(x, torch.tensor([500.0]), context=ctx, y=y)), x
    if family == "lumina":
        x = torch.randn(1, 16, lat, lat, dtype=dtype, requires_grad=True)
        cap = torch.randn(1, 256, 2304, dtype=dtype)
        mask = torch.ones(1, 256, dtype=torch.int32)
        return (lambda m: m(x, torch.tensor([0.5]), cap, mask)), x
    if family == "anima":
        x = torch.randn(1, 16, 1, lat, lat, dtype=dtype, requires_grad=True)
        ctx = torch.randn(1, 512, 1024, dtype=dtype)
        pad = torch.zeros(1, 1, lat * 8 // 8, lat * 8 // 8, dtype=dtype)
        return (lambda m: m(x, torch.tensor([0.5]), ctx, padding_mask=pad)), x
    # hunyuan-image: 32x-downsampling VAE, 64 channels, patch 1
    lat = size // 32
    x = torch.randn(1, 64, lat, lat, dtype=dtype, requires_grad=True)
    vlm = torch.randn(1, 1000, 3584, dtype=dtype)
    vlm_mask = torch.ones(1, 1000, dtype=torch.long)
    byt5 = torch.randn(1, 128, 1472, dtype=dtype)
    byt5_mask = torch.ones(1, 128, dtype=torch.long)
    return (lambda m: m(x, torch.tensor([500.0]), vlm, vlm_mask, byt5, byt5_mask)), x


def enable_checkpointing(model: Any) -> None:
    for name in ("enable_gradient_checkpointing", "set_gradient_checkpointing"):
        method = getattr(model, name, None)
        if method is not None:
            method() if name == "enable_gradient_checkpointing" else method(True)
            return


def measure(family: str, size: int, checkpointed: bool) -> dict[str, float]:
    import torch
    from torch._subclasses.fake_tensor import FakeTensorMode
    from torch.nn.attention import SDPBackend, sdpa_kernel

    dtype = torch.bfloat16
    reduced = family in REDUCED
    full: dict[str, int] = {}
    with contextlib.nullcontext() if reduced else FakeTensorMode(allow_non_fake_inputs=True):
        if reduced:
            with torch.device("meta"):
                model = build(family)
            full = truncate_blocks(model)
            model = model.to_empty(device="cpu").to(dtype)
            for p in model.parameters():
                p.data.normal_(0, 0.02)  # to_empty leaves garbage; the values only need to be finite
            for b in model.buffers():
                if b.is_floating_point():
                    b.data.zero_()
            _restore_buffers(family, model)
        else:
            torch.set_default_dtype(dtype)  # fake parameters cannot be converted after the fact
            truncated = torch.nn.init.trunc_normal_
            torch.nn.init.trunc_normal_ = lambda t, *a, **k: t  # it reads a value back; the weights do not matter
            try:
                model = build(family)
            finally:
                torch.set_default_dtype(torch.float32)
                torch.nn.init.trunc_normal_ = truncated
        model.requires_grad_(False)
        if hasattr(model, "set_use_sdpa"):  # train_util.replace_unet_modules with --sdpa
            model.set_use_sdpa(True)
        apply_lora(family, model)
        if checkpointed:
            enable_checkpointing(model)
        model.train()
        params = {int(p.untyped_storage()._cdata) for p in model.parameters()}
        saved = SavedBytes(params)
        hooks = []
        for index, (list_name, block) in enumerate(block_lists(model)):
            def enter(_m: Any, _a: Any, name: str = f"{list_name}.{index}") -> None:
                saved.block = name

            def leave(_m: Any, _a: Any, _o: Any) -> None:
                saved.block = None

            hooks += [block.register_forward_pre_hook(enter), block.register_forward_hook(leave)]
        call, _x = inputs(family, size, dtype)
        with (
            sdpa_kernel([SDPBackend.FLASH_ATTENTION, SDPBackend.EFFICIENT_ATTENTION, SDPBackend.MATH]),
            torch.autograd.graph.saved_tensors_hooks(saved.pack, lambda t: t),
            counting_checkpoints(saved),
            torch.autocast("cpu", dtype=dtype),
        ):
            out = call(model)
        kept = saved.total
        largest = max(saved.by_block.values(), default=0)
        for list_name, count in full.items():  # the blocks left out keep what the one measured kept
            measured = [v for k, v in saved.by_block.items() if k.startswith(list_name + ".")]
            kept += (count - len(measured)) * (sum(measured) // max(1, len(measured)))
        out.float().sum().backward()
        for hook in hooks:
            hook.remove()
    how = "cpu-reduced" if reduced else "fake"
    return {"saved_gb": kept / GIB, "largest_block_gb": largest / GIB, "how": how}


def _restore_buffers(family: str, model: Any) -> None:
    """Buffers the constructor computed (rotary tables) are rebuilt after to_empty."""
    rebuild = getattr(model, "_init_rope", None) or getattr(model, "init_rope", None)
    if callable(rebuild):
        rebuild()


def fit_line(points: list[tuple[float, float]]) -> tuple[float, float]:
    """(base, per_mp) through two (megapixels, GiB) points; the base is never negative."""
    (x1, y1), (x2, y2) = points
    per_mp = (y2 - y1) / (x2 - x1)
    return max(0.0, y1 - per_mp * x1), per_mp


def family_table(family: str) -> tuple[dict[str, float], str]:
    rows: dict[bool, list[tuple[float, float]]] = {False: [], True: []}
    blocks: list[tuple[float, float]] = []
    how = ""
    for size in SIZES.get(family, DEFAULT_SIZES):
        megapixels = size * size / 1e6
        for checkpointed in (False, True):
            start = time.monotonic()
            got = measure(family, size, checkpointed)
            how = str(got["how"])
            print(f"{family} {size} gc={checkpointed}: {got} ({time.monotonic() - start:.0f}s)", flush=True)
            rows[checkpointed].append((megapixels, float(got["saved_gb"])))
            if not checkpointed:
                blocks.append((megapixels, float(got["largest_block_gb"])))
    base, per_mp = fit_line(rows[False])
    base_ckpt, per_mp_ckpt = fit_line(rows[True])
    block_base, block_per_mp = fit_line(blocks)
    table = {"base": base, "per_mp": per_mp, "base_checkpointed": base_ckpt, "per_mp_checkpointed": per_mp_ckpt,
             "block_base": block_base, "block_per_mp": block_per_mp}  # fmt: skip
    sizes = " and ".join(f"{s}x{s}" for s in SIZES.get(family, DEFAULT_SIZES))
    if how == "fake":
        text = f"FakeTensorMode, the whole model with LoRA dim {LORA_DIM}, bf16 autocast, sdpa, at {sizes}, batch 1"
    else:
        text = (f"CPU with real tensors (its forward reads values back, which FakeTensorMode cannot), one block of "
                f"each list at full width scaled to the real block counts, LoRA dim {LORA_DIM}, bf16 autocast, "
                f"sdpa, at {sizes}, batch 1")  # fmt: skip
    return {k: round(v, 4) for k, v in table.items()}, text


def render(tables: dict[str, tuple[dict[str, float], str]], versions: dict[str, str]) -> str:
    lines = [
        "# Activation memory measured on sd-scripts' own model classes by tools/activation_facts.py (no GPU):",
        "# what autograd keeps for backward (saved_tensors_hooks, plus torch.utils.checkpoint's inputs) and the",
        "# largest block's transient, in GiB = base (per image) + per_mp x megapixels per step. Do not edit by",
        "# hand; rerun the tool. Families missing here keep vendor/memory.toml's hand figures.",
        "",
        "[measured_with]",
        *(f'{k} = "{v}"' for k, v in versions.items()),
    ]
    for family, (table, how) in tables.items():
        lines += ["", f'["{family}"]', *(f"{k} = {v}" for k, v in table.items()), f'how = "{how}"']
    return "\n".join(lines) + "\n"


def main() -> int:
    import tomllib

    import torch

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=FAMILIES, action="append", help="measure these; keep the others' figures")
    parser.add_argument("--check", action="store_true", help="compare with the committed figures instead of writing")
    args = parser.parse_args()
    root = Path(os.environ.get("KOHYAWIZ_SD_SCRIPTS", ".sd-scripts")).resolve()
    sys.path.insert(0, str(root))
    os.chdir(root)
    old = tomllib.loads(OUT.read_text()) if OUT.is_file() else {}
    tables: dict[str, tuple[dict[str, float], str]] = {
        f: ({k: v for k, v in t.items() if k != "how"}, t["how"]) for f, t in old.items() if f != "measured_with"
    }
    failed = []
    for family in args.only or FAMILIES:
        try:
            tables[family] = family_table(family)
        except Exception as exc:  # said, not guessed: the family keeps its hand figures
            import traceback

            where = [f"{f.filename.rsplit('/', 1)[-1]}:{f.lineno}" for f in traceback.extract_tb(exc.__traceback__)
                     if "site-packages" not in f.filename]  # fmt: skip
            print(f"{family}: {type(exc).__name__}: {str(exc)[:200]} at {where[-6:]}", flush=True)
            failed.append(family)
    if args.check:
        differ = [
            f"{family}.{key}: {value} measured, {old[family][key]} committed"
            for family in args.only or FAMILIES if family in old and family not in failed
            for key, value in tables[family][0].items() if abs(value - float(old[family][key])) > 0.01 + 0.02 * abs(value)
        ]  # fmt: skip
        print("\n".join(differ) if differ else "activation facts match")
        return 1 if differ or failed else 0
    ordered = {f: tables[f] for f in FAMILIES if f in tables}
    versions = {"sd_scripts": "main-48d368fa", "torch": torch.__version__.split("+")[0]}
    OUT.write_text(render(ordered, versions))
    print(f"wrote {OUT}" + (f"; not measured: {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
