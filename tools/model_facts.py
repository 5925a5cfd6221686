"""Read parameter counts off sd-scripts' real model classes and real network modules, built on
torch's meta device (no memory, no weights), into vendor/memory.toml.

Run it with the Python of an sd-scripts environment, from this repository:

    KOHYAWIZ_SD_SCRIPTS=.sd-scripts .sd-venv/bin/python tools/model_facts.py [--check]

It needs sd-scripts, its requirements, lycoris-lora and kohyawiz's own dependencies (pydantic,
toml). --check compares with the committed facts instead of writing them (tests/test_memory.py
runs it when an sd-scripts environment is configured).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import tomllib
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

DIMS = (1, 2, 4, 8, 16, 32, 64, 128)
NETWORKS = ("lora", "locon", "loha", "lokr", "lokr-large", "dylora", "glora", "ia3", "diag-oft", "boft", "full")
LOKR_PLANNED_DIM = 100000  # kohyawiz/rules/network.py LOKR_FULL_DIM: LoKr's size is set by its factor


def _clip(hidden: int, layers: int, heads: int, act: str, projection: bool) -> Any:
    """A CLIP text encoder shaped like the one sd-scripts builds (library/model_util.py,
    library/sdxl_model_util.py)."""
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    config = CLIPTextConfig(
        vocab_size=49408, hidden_size=hidden, intermediate_size=hidden * 4, num_hidden_layers=layers,
        num_attention_heads=heads, max_position_embeddings=77, hidden_act=act, projection_dim=hidden,
    )  # fmt: skip
    return CLIPTextModelWithProjection(config) if projection else CLIPTextModel._from_config(config)


def build_family(family: str) -> tuple[Any, list[Any], Any]:
    """(unet, text encoders, vae) on the meta device, from sd-scripts' own classes."""
    from diffusers import AutoencoderKL
    from library import model_util, original_unet, sdxl_original_unet

    vae = AutoencoderKL(**model_util.create_vae_diffusers_config())
    if family == "sdxl":
        unet = sdxl_original_unet.SdxlUNet2DConditionModel()
        return unet, [_clip(768, 12, 12, "quick_gelu", False), _clip(1280, 32, 20, "gelu", True)], vae
    v2 = family == "sd2"
    unet = original_unet.UNet2DConditionModel(**model_util.create_unet_diffusers_config(v2, v2))
    te = _clip(1024, 23, 16, "gelu", False) if v2 else _clip(768, 12, 12, "quick_gelu", False)
    return unet, [te], vae


def count(module: Any) -> int:
    return sum(p.numel() for p in module.parameters())


def trainable(lora: Any) -> int:
    """A network module's own parameters: networks.lora and networks.dylora keep the wrapped
    module as a registered child until they are applied, so its weights are left out."""
    return sum(p.numel() for name, p in lora.named_parameters() if not name.startswith("org_module"))


def wrapped(lora: Any) -> int:
    """Weights and biases of the module a LyCORIS module wraps: what algo=full trains."""
    org = lora.org_module[0]
    return sum(p.numel() for p in org.parameters(recurse=False))


def network_counts(family: str, network: str, dim: int, unet: Any, tes: list[Any], vae: Any) -> tuple[int, int] | None:
    """Trainable parameters (UNet, text encoders) of kohyawiz's plan for this network at `dim`."""
    import importlib

    from kohyawiz.answers import Answers
    from kohyawiz.emit import render
    from kohyawiz.errors import UserError
    from kohyawiz.plan import build_plan

    name = network.removesuffix("-large")
    answers = Answers.model_validate({
        "subject": "character", "model": {"family": family}, "vram_gb": 80, "network": name,
        "lokr_size": "large" if network.endswith("-large") else "small",
        "concepts": [{"name": "x", "images": 30}], "overrides": {"network_dim": dim},
    })  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        try:
            plan = build_plan(answers, Path(tmp))
        except UserError:
            return None  # a dim this network refuses (BOFT under 16, DyLoRA off its unit)
        files = render(plan)
        kwargs: dict[str, str] = {}
        for arg in plan.value("network_args") or []:
            key, value = str(arg).split("=", 1)
            kwargs[key] = value
        if "preset" in kwargs and "lycoris_preset.toml" in files:
            preset = Path(tmp) / "lycoris_preset.toml"
            preset.write_text(files["lycoris_preset.toml"])
            kwargs["preset"] = str(preset)
        module = importlib.import_module(str(plan.value("network_module")))
        alpha = float(plan.value("network_alpha") or 1.0)
        te_arg = tes if len(tes) > 1 else tes[0]
        measure = trainable
        if kwargs.get("algo") == "full":
            # A full module copies the wrapped weights, which meta tensors cannot give: build the same
            # targets as LoCon and count the weights they wrap.
            kwargs["algo"], measure = "locon", wrapped
        net = module.create_network(1.0, int(plan.value("network_dim")), alpha, vae, te_arg, unet, **kwargs)
        return sum(measure(m) for m in net.unet_loras), sum(measure(m) for m in net.text_encoder_loras)


def read_facts() -> dict[str, Any]:
    import torch

    facts: dict[str, Any] = {}
    for family in ("sd1", "sd2", "sdxl"):
        with torch.device("meta"):
            unet, tes, vae = build_family(family)
        entry: dict[str, Any] = {
            "unet": count(unet), "text_encoders": sum(count(t) for t in tes), "vae": count(vae),
        }  # fmt: skip
        # The networks are built on the CPU (LyCORIS reads shapes with .item()); they wrap meta modules.
        for network in NETWORKS:
            table: dict[str, list[int]] = {}
            for dim in (*DIMS, LOKR_PLANNED_DIM) if network.startswith("lokr") else DIMS:
                got = network_counts(family, network, dim, unet, tes, vae)
                if got is not None:
                    table[str(dim)] = list(got)
            entry[f"network.{network}"] = table
            print(family, network, table, file=sys.stderr)
        facts[family] = entry
    return facts


def render_toml(facts: dict[str, Any], versions: dict[str, str]) -> str:
    lines = [
        "# Parameter counts read off sd-scripts' real model classes and network modules on the meta device",
        "# by tools/model_facts.py. network.<name>: network_dim -> [UNet, text encoders] trainable parameters",
        "# for kohyawiz's own network_args at that dim. Do not edit by hand; rerun the tool.",
        "",
        "[read_with]",
        *[f'{k} = "{v}"' for k, v in versions.items()],
    ]
    for family, entry in facts.items():
        lines += ["", f"[{family}]"]
        lines += [f"{k} = {v}" for k, v in entry.items() if not k.startswith("network.")]
        for key, table in entry.items():
            if key.startswith("network."):
                lines += ["", f'[{family}."{key}"]']
                lines += [f'"{dim}" = [{unet}, {te}]' for dim, (unet, te) in table.items()]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare with vendor/memory.toml, write nothing")
    args = parser.parse_args()
    sd_scripts = Path(os.environ.get("KOHYAWIZ_SD_SCRIPTS", REPO / ".sd-scripts")).resolve()
    sys.path.insert(0, str(sd_scripts))
    os.chdir(sd_scripts)
    import lycoris
    import torch

    facts = read_facts()
    versions = {"sd_scripts": "main-48d368fa", "torch": torch.__version__.split("+")[0],
                "lycoris_lora": getattr(lycoris, "__version__", "4.1.3")}  # fmt: skip
    target = REPO / "vendor" / "memory.toml"
    if args.check:
        stored = tomllib.loads(target.read_text())
        wrong = [
            f"{family}.{key}" for family, entry in facts.items() for key, value in entry.items()
            if _plain(stored.get(family, {}).get(key)) != _plain(value)
        ]  # fmt: skip
        print("memory facts match" if not wrong else f"differ: {', '.join(wrong)}")
        return 1 if wrong else 0
    static = tomllib.loads(target.read_text()) if target.exists() else {}
    text = render_toml(facts, versions)
    for section in ("runtime", "activations"):
        if section in static:
            text += "\n" + _section_text(section, static[section])
    target.write_text(text)
    print(f"wrote {target}")
    return 0


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, tuple):
        return list(value)
    return value


def _section_text(name: str, table: dict[str, Any]) -> str:
    """A hand-kept section of memory.toml, carried over when the counts are rewritten."""
    lines = [f"[{name}]", *[f"{k} = {_toml(v)}" for k, v in table.items() if not isinstance(v, dict)], ""]
    for key, value in table.items():
        if isinstance(value, dict):
            lines += [f"[{name}.{key}]", *[f"{k} = {_toml(v)}" for k, v in value.items()], ""]
    return "\n".join(lines)


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return repr(value)

if __name__ == "__main__":
    raise SystemExit(main())
