"""A kohyawiz plan as a kohya_ss GUI config (JSON) that the GUI loads: every setting in its GUI
field, and the plan's dataset.toml as `dataset_config` so balanced repeats survive."""

from __future__ import annotations

from typing import Any

from kohyawiz.interop.kohya import GUI_FAMILY_FLAGS
from kohyawiz.plan import Plan

ALGO_TO_GUI = {
    "locon": "LyCORIS/LoCon", "loha": "LyCORIS/LoHa", "lokr": "LyCORIS/LoKr", "ia3": "LyCORIS/iA3",
    "dylora": "LyCORIS/DyLoRA", "glora": "LyCORIS/GLoRA", "diag-oft": "LyCORIS/Diag-OFT", "boft": "LyCORIS/BOFT",
    "full": "LyCORIS/Native Fine-Tuning",
}  # fmt: skip
ARG_TO_GUI = {"resolution": "max_resolution", "optimizer_type": "optimizer", "no_half_vae": "sdxl_no_half_vae",
              "cache_text_encoder_outputs": "sdxl_cache_text_encoder_outputs"}  # fmt: skip
NETWORK_ARG_TO_GUI = {
    "use_tucker": "use_cp",
    "constraint": "constrain",
    "conv_block_dims": "conv_dims",
    "conv_block_alphas": "conv_alphas",
}


def gui_config(plan: Plan) -> dict[str, Any]:
    out: dict[str, Any] = {}
    extra: list[str] = []
    for decision in plan.emitted():
        key, value = decision.key, decision.value
        if key in ("network_args", "network_module"):
            continue
        if key in ("xformers", "sdpa"):
            out["xformers"] = key
            continue
        if key == "zero_terminal_snr":
            extra.append("--zero_terminal_snr")
            continue
        if key in ("optimizer_args", "lr_scheduler_args") and isinstance(value, list):
            value = " ".join(value)
        out[ARG_TO_GUI.get(key, key)] = value
    if plan.value("max_train_epochs"):
        out["epoch"] = plan.value("max_train_epochs")
    module = plan.value("network_module")
    args = dict(str(a).split("=", 1) for a in plan.value("network_args") or [] if "=" in str(a))
    if module == "lycoris.kohya":
        out["LoRA_type"] = ALGO_TO_GUI.get(args.pop("algo", "locon"), "LyCORIS/LoCon")
        out["LyCORIS_preset"] = args.pop("preset", "full")
    elif module == "networks.dylora":
        out["LoRA_type"] = "Kohya DyLoRA"
    else:
        out["LoRA_type"] = "Kohya LoCon" if "conv_dim" in args else "Standard"
    for key, value in args.items():
        gui_key = NETWORK_ARG_TO_GUI.get(key, key)
        out[gui_key] = value == "True" if value in ("True", "False") else _number(value)
    family = plan.answers.model.family
    out["sdxl"] = family == "sdxl"
    out["v2"] = family == "sd2"
    for flag, flagged in GUI_FAMILY_FLAGS:  # the GUI's model checkboxes; Chroma is Flux with model_type
        out[flag] = flagged == family or (flag == "flux1_checkbox" and family == "chroma")
    out["v_parameterization"] = bool(plan.answers.model.vpred)
    out["dataset_config"] = str(plan.out_dir / "dataset.toml")
    out["train_data_dir"] = ""
    out["num_processes"] = plan.answers.processes  # accelerate's count: every GPU of every machine
    out["num_machines"] = plan.answers.nodes
    out["multi_gpu"] = plan.answers.processes > 1
    if extra:
        out["additional_parameters"] = " ".join(extra)
    out["model_list"] = "custom"
    return dict(sorted(out.items()))


def _number(text: str) -> Any:
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            continue
    return text
