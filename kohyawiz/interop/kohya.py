"""Read kohya_ss GUI configs and sd-scripts config TOMLs into kohyawiz answers and overrides.

Every key ends in the report as mapped (to an answer or an sd-scripts argument), ignored (a GUI
field, or a machine path that belongs on the command line) or not understood. The GUI stores
numbers as strings, "" for unset, and migrated keys from older versions; all are accepted.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from kohyawiz import tomlwrite
from kohyawiz.answers import OPTIMIZERS
from kohyawiz.constraints.ranges import range_problem
from kohyawiz.door import parse_json, parse_toml, read_text, read_toml
from kohyawiz.errors import UserError
from kohyawiz.facts import Interface, load_interface
from kohyawiz.families import family_spec
from kohyawiz.networks import readable_args
from kohyawiz.plan import PLAN_OWNED, coerce_override
from kohyawiz.trust import foreign_refusals, sends_elsewhere

Status = Literal["mapped", "ignored", "not understood"]

LORA_TYPES: dict[str, tuple[str, str | None]] = {
    "Standard": ("lora", None),
    "Kohya LoCon": ("lora", None),  # networks.lora with conv_dim
    "LoCon": ("locon", None),  # legacy name the GUI migrates to LyCORIS/LoCon
    "LyCORIS/LoCon": ("locon", "locon"),
    "LyCORIS/LoHa": ("loha", "loha"),
    "Kohya LoHa": ("loha", "loha"),
    "LyCORIS/LoKr": ("lokr", "lokr"),
    "Kohya LoKr": ("lokr", "lokr"),
    "LyCORIS/iA3": ("ia3", "ia3"),
    "LyCORIS/DyLoRA": ("dylora", "dylora"),
    "Kohya DyLoRA": ("dylora", None),
    "LyCORIS/GLoRA": ("glora", "glora"),
    "LyCORIS/Diag-OFT": ("diag-oft", "diag-oft"),
    "LyCORIS/BOFT": ("boft", "boft"),
    "LyCORIS/Native Fine-Tuning": ("full", "full"),
}
MODULE_NETWORKS = {"networks.lora": "lora", "networks.dylora": "dylora"}

# GUI fields that only steer the GUI, or that kohyawiz takes from its own answers.
GUI_ONLY = {
    "model_list", "save_as_bool", "training_preset", "lowvram", "use_wandb", "stop_text_encoder_training",
    "num_cpu_threads_per_process", "num_machines", "multi_gpu", "gpu_ids", "main_process_port", "dynamo_backend",
    "dynamo_mode", "dynamo_use_fullgraph", "dynamo_use_dynamic", "extra_accelerate_launch_args", "sdxl_checkbox",
    "flux1_checkbox", "sd3_checkbox", "lumina_checkbox", "anima_checkbox", "hunyuan_image_checkbox", "sdxl",
    "LoRA_type", "LyCORIS_preset", "noise_offset_type", "lr_warmup", "epoch", "file_path", "log_tracker_config_dir",
    "train_on_input", "rank_dropout_scale", "use_8bit_adam", "use_lion_optimizer", "stop_text_encoder_training_pct",
    "num_processes",
}  # fmt: skip
# Keys that only a LoRA training config (GUI or sd-scripts) holds; a file with none is something else.
LORA_MARKERS = {
    "LoRA_type", "network_module", "network_dim", "network_alpha", "pretrained_model_name_or_path", "optimizer",
    "optimizer_type", "learning_rate", "max_resolution", "resolution", "output_name", "train_batch_size",
}  # fmt: skip
# Fields only kohya_ss's Finetune tab writes (kohya_gui/finetune_gui.py): its presets have no
# LoRA_type and would otherwise import as a LoRA with a fine-tune learning rate.
FINETUNE_MARKERS = {
    "dataset_repeats", "use_latent_files", "create_buckets", "create_caption", "train_text_encoder",
    "image_folder", "train_dir", "caption_metadata_filename", "latent_metadata_filename", "full_path",
}  # fmt: skip
MACHINE_PATHS = {
    "pretrained_model_name_or_path": "pass it as --model",
    "train_data_dir": "pass it as --dataset",
    "reg_data_dir": "regularisation images are not planned by kohyawiz",
    "output_dir": "kohyawiz writes into the plan folder",
    "logging_dir": "a machine path",
    "vae": "a machine path; add --set vae=PATH when planning",
    "network_weights": "a machine path; add --set network_weights=PATH when planning",
    "resume": "use `kohyawiz train --resume`",
    "dataset_config": "kohyawiz writes its own dataset.toml",
    "config_file": "kohyawiz writes its own config.toml",
    "sample_prompts": "kohyawiz writes sample prompts from its templates (answers.samples)",
    "log_tracker_config": "a machine path",
    "tokenizer_cache_dir": "a machine path",
    "conditioning_data_dir": "a machine path",
}
# Answers a config states through flags; they are not carried as overrides.
FAMILY_FLAGS = {"v2", "v_parameterization", "zero_terminal_snr", "scale_v_pred_loss_like_noise_pred"}
# GUI values that mean "not set".
UNSET_ZERO = {
    "max_train_epochs", "max_train_steps", "unet_lr", "save_every_n_epochs", "save_every_n_steps", "save_last_n_steps",
    "save_last_n_steps_state", "save_last_n_epochs", "save_last_n_epochs_state", "seed", "clip_skip", "min_snr_gamma",
    "sample_every_n_epochs", "sample_every_n_steps", "vae_batch_size", "lr_warmup_steps",
    "noise_offset", "adaptive_noise_scale", "multires_noise_iterations", "ip_noise_gamma", "scale_weight_norms",
    "network_dropout", "caption_dropout_every_n_epochs", "min_timestep", "max_timestep", "keep_tokens",
    "lr_scheduler_num_cycles", "lr_scheduler_power", "caption_dropout_rate", "caption_tag_dropout_rate",
}  # fmt: skip
NETWORK_KEYS = {
    "conv_dim", "conv_alpha", "rank_dropout", "module_dropout", "use_tucker", "use_cp", "use_scalar", "factor",
    "decompose_both", "bypass_mode", "dora_wd", "constrain", "rescaled", "train_norm", "unit", "block_dims",
    "block_alphas", "conv_dims", "conv_alphas", "conv_block_dims", "conv_block_alphas", "down_lr_weight",
    "mid_lr_weight", "up_lr_weight", "block_lr_zero_threshold", "loraplus_lr_ratio", "loraplus_unet_lr_ratio",
    "loraplus_text_encoder_lr_ratio", "block_size",
}  # fmt: skip
NETWORK_RENAMES = {
    "use_cp": "use_tucker",
    "constrain": "constraint",
    "conv_dims": "conv_block_dims",
    "conv_alphas": "conv_block_alphas",
}
GUI_RENAMES = {
    "max_resolution": "resolution",
    "optimizer": "optimizer_type",
    "lora_network_weights": "network_weights",
    "sdxl_no_half_vae": "no_half_vae",
    "sdxl_cache_text_encoder_outputs": "cache_text_encoder_outputs",
}


@dataclass
class ReportRow:
    key: str
    status: Status
    note: str

    def as_dict(self) -> dict[str, str]:
        return {"key": self.key, "status": self.status, "note": self.note}


@dataclass
class Imported:
    kind: str
    answers: dict[str, Any] = field(default_factory=dict)
    overrides: dict[str, Any] = field(default_factory=dict)
    report: list[ReportRow] = field(default_factory=list)
    model_path: str | None = None
    train_data_dir: str | None = None

    def note(self, key: str, status: Status, note: str) -> None:
        self.report.append(ReportRow(key, status, note))


def _unset(key: str, value: Any) -> bool:
    if value is None or value == "" or value is False:
        return True
    if key in UNSET_ZERO and isinstance(value, int | float | str) and not isinstance(value, bool):
        try:
            return float(value) == 0
        except ValueError:
            return False
    return key == "max_token_length" and str(value) == "75"


def _truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1", "yes", "on")
    return bool(value)


def _number(value: Any) -> Any:
    if isinstance(value, str):
        text = value.strip()
        for cast in (int, float):
            try:
                return cast(text)
            except ValueError:
                continue
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**63:
        return int(value)  # a whole float beyond TOML's integers stays a float, refused where it lands
    return value


def detect_kind(data: dict[str, Any]) -> str:
    if "num_vectors_per_token" in data or "token_string" in data or "init_word" in data:
        raise UserError("this is a Textual Inversion config: kohyawiz plans LoRA and LyCORIS training only")
    if "LoRA_type" not in data and any(
        k in data for k in ("learning_rate_te", "learning_rate_te1", "no_token_padding")
    ):
        raise UserError("this is a DreamBooth or fine-tuning config: kohyawiz plans LoRA and LyCORIS training only")
    finetune = sorted(k for k in FINETUNE_MARKERS if k in data)
    if "LoRA_type" not in data and "network_module" not in data and finetune:
        raise UserError(
            f"this is a kohya_ss fine-tune preset ({', '.join(finetune[:3])}): kohyawiz plans LoRA and LyCORIS "
            "training only"
        )
    if not LORA_MARKERS & set(data):
        raise UserError("not a kohya_ss GUI config or an sd-scripts training config (none of their keys)")
    if "LoRA_type" in data or "max_resolution" in data or ("optimizer" in data and "optimizer_type" not in data):
        return "gui"
    return "toml"


# The kohya_ss GUI's model checkboxes (kohya_gui/class_source_model.py, lora_gui.py); Chroma is the
# Flux checkbox with model_type chroma.
GUI_FAMILY_FLAGS = (
    ("flux1_checkbox", "flux"), ("sd3_checkbox", "sd3"), ("lumina_checkbox", "lumina"),
    ("anima_checkbox", "anima"), ("hunyuan_image_checkbox", "hunyuan-image"),
)  # fmt: skip
_SCRIPT_FAMILIES = {
    "flux_train_network.py": "flux", "sd3_train_network.py": "sd3", "lumina_train_network.py": "lumina",
    "anima_train_network.py": "anima", "hunyuan_image_train_network.py": "hunyuan-image",
    "sdxl_train_network.py": "sdxl",
}  # fmt: skip


def _family(data: dict[str, Any]) -> str:
    found = _SCRIPT_FAMILIES.get(str(data.get("_script", "")))
    for flag, family in GUI_FAMILY_FLAGS:
        if _truthy(data.get(flag)):
            found = family
    if found == "flux" and str(data.get("model_type", "")).lower() == "chroma":
        return "chroma"
    if found:
        return found
    if _truthy(data.get("sdxl")) or _truthy(data.get("sdxl_checkbox")):
        return "sdxl"
    return "sd2" if _truthy(data.get("v2")) else "sd1"


def import_settings(data: dict[str, Any], source: str, sd_scripts_version: str | None = None) -> Imported:
    """Answers, overrides and a report for a kohya_ss GUI JSON or an sd-scripts config (already flat)."""
    if not isinstance(data, dict):
        raise UserError("the config is not a table of settings", where=source)
    data = dict(data)
    kind = detect_kind(data)
    interface = load_interface(sd_scripts_version)
    result = Imported(kind)
    family = _family(data)
    script = family_spec(family).script
    if family_spec(family).model_type:
        data.pop("model_type", None)  # the family's own rule sets it (F-TRAINER)
    model: dict[str, Any] = {"family": family}
    result.answers["model"] = model
    for flag, answer in (("v_parameterization", "vpred"), ("zero_terminal_snr", "zsnr")):
        if _truthy(data.get(flag)):
            model[answer] = True
    handled: set[str] = {"_script", "num_processes", "num_machines"}
    processes, machines = _number(data.get("num_processes", 1)), _number(data.get("num_machines", 1))
    machines = machines if isinstance(machines, int) and machines > 1 else 1
    if isinstance(processes, int) and processes > 1:
        result.answers["gpus"] = max(1, processes // machines)  # accelerate counts every machine's GPUs
    if machines > 1:
        result.answers["nodes"] = machines
    if "num_processes" in data:
        result.note("num_processes", "mapped", "answers.gpus (per machine; an accelerate option)")
    if "num_machines" in data:
        result.note("num_machines", "mapped", "answers.nodes (an accelerate option)")
    _network(data, result, handled)
    _gui_specials(data, result, handled, model)
    for key, raw in data.items():
        if key in handled:
            continue
        arg = key[2:] if key.startswith("--") else GUI_RENAMES.get(key, key) if kind == "gui" else key
        if arg in GUI_ONLY or key in GUI_ONLY:
            result.note(key, "ignored", "a kohya_ss GUI field; sd-scripts never sees it")
            continue
        if sends_elsewhere(arg, raw or "x"):
            if raw not in ("", None, False, "tensorboard"):
                result.note(key, "ignored", "it sends the run or a credential elsewhere: pass --set yourself if you mean it")
            else:
                result.note(key, "ignored", "unset (empty, false or zero)")
            continue
        if arg in MACHINE_PATHS:
            if arg == "pretrained_model_name_or_path" and raw:
                result.model_path = str(raw)
            if arg == "train_data_dir" and raw:
                result.train_data_dir = str(raw)
            if arg == "sample_prompts" and raw:
                result.answers["samples"] = True
            result.note(key, "ignored", MACHINE_PATHS[arg])
            continue
        if arg in FAMILY_FLAGS:
            if _truthy(raw):
                result.note(key, "mapped", "model answers (family, v-prediction, zero terminal SNR)")
            else:
                result.note(key, "ignored", "unset (empty, false or zero)")
            continue
        if arg in PLAN_OWNED:
            result.note(key, "ignored", PLAN_OWNED[arg])
            continue
        if arg == "caption_extension" and raw in ("", None):
            result.note(
                key, "ignored", "empty means sd-scripts reads .caption files; kohyawiz sets .txt explicitly (D-CAPTION)"
            )
            continue
        if arg == "max_train_steps":
            result.note(
                key,
                "ignored",
                f"{raw}: with a dataset config and no epochs sd-scripts falls back to 1600 steps; "
                "kohyawiz always counts epochs (T-PASSES), which override steps",
            )
            continue
        if _unset(arg, raw):
            result.note(key, "ignored", "unset (empty, false or zero)")
            continue
        if arg == "bucket_reso_steps" and _number(raw) not in (32, 64, 96, 128):
            result.note(
                key,
                "ignored",
                f"{raw} is not a multiple of 64 (32 for SDXL): sd-scripts 0.9+ stops on it; T-RES decides",
            )
            continue
        try:
            _map_arg(interface, script, key, arg, raw, result)
        except (TypeError, ValueError) as exc:
            result.note(key, "not understood", f"cannot read {raw!r}: {exc}")
    if result.overrides.get("clip_skip") == 2 and family != "sdxl":
        model["tags"] = "booru"
        result.note(
            "clip_skip", "mapped", "clip skip 2 points to an anime ancestry: answers.model.tags = booru (T-CLIPSKIP)"
        )
    result.answers.setdefault("subject", "character")
    _keep_out_foreign(result)
    _check_family(family, result.model_path, source)
    return result


def _keep_out_foreign(result: Imported) -> None:
    """The imported values cross the trust boundary: what a shared file may not carry is left out
    of the preset and reported as ignored."""
    options = result.answers.get("network_options")
    for table, prefix in ((result.overrides, ""), (options if isinstance(options, dict) else {}, "network_args ")):
        for refusal in foreign_refusals(table):
            table.pop(refusal.key, None)
            result.report = [r for r in result.report if not (r.key == refusal.key and r.status == "mapped")]
            result.note(f"{prefix}{refusal.key}".strip(), "ignored",
                        f"it {refusal.why}; a shared config cannot carry it: pass --set yourself if you mean it")  # fmt: skip
    if isinstance(options, dict) and not options:
        result.answers.pop("network_options", None)
    for key, value in list(result.overrides.items()):
        problem = range_problem(key, value) or _unwritable(value)
        if problem is not None:
            del result.overrides[key]
            result.report = [r for r in result.report if not (r.status == "mapped" and key in r.note)]
            result.note(key, "not understood", problem)
    tables = [(result.answers, True), *((v, False) for v in result.answers.values() if isinstance(v, dict))]
    for table, top in tables:
        for key, value in list(table.items()):
            if (top and isinstance(value, dict)) or (top and key == "concepts"):
                continue  # a table of answers ([answers.model]) or the concepts, written as tables
            if (problem := _unwritable(value)) is not None:
                del table[key]
                result.note(key, "not understood", problem)


def _unwritable(value: Any) -> str | None:
    """Why a value cannot stand in the preset file (a table, NaN, a mixed list...), or None."""
    try:
        tomlwrite.value(value)
    except (ValueError, TypeError) as exc:
        return f"a value no preset file can hold ({exc})"
    return None


def _check_family(family: str, model_path: str | None, source: str) -> None:
    """A config whose family flags contradict the header of the model it names (when that file is
    here to read) is refused in one line naming both (T-FAMILY), as `kohyawiz plan` refuses it."""
    from kohyawiz.models import family_conflict, inspect_model

    if not model_path or not Path(model_path).expanduser().is_file():
        return
    try:
        info = inspect_model(model_path)
    except UserError:
        return  # a .ckpt or an unreadable header says nothing about the family
    conflict = family_conflict(family, info, "its family flags say")
    if conflict is not None:
        raise UserError(f"{conflict} ({model_path}); fix the config's model or its family flags", where=source)


def _map_arg(interface: Interface, script: str, key: str, arg: str, raw: Any, result: Imported) -> None:
    if arg == "mixed_precision" and raw in ("fp16", "bf16"):
        result.answers["precision"] = raw
        result.note(key, "mapped", "answers.precision")
        return
    if arg == "output_name":
        result.answers["name"] = str(raw)
        result.note(key, "mapped", "answers.name")
        return
    if arg == "save_state" and _truthy(raw):
        result.answers["save_state"] = True
        result.note(key, "mapped", "answers.save_state")
        return
    if arg == "scale_weight_norms" and _number(raw) == 1:
        result.answers["with_other_loras"] = True
        result.note(key, "mapped", "answers.with_other_loras (T-NORMS)")
        return
    fact = interface.arg(script, arg)
    if fact is None:
        result.note(key, "not understood", f"not an argument of {script} in sd-scripts {interface.version}")
        return
    value = raw
    if fact.kind == "list" and isinstance(raw, str):
        value = [v.strip("\"'") for v in shlex.split(raw)] if fact.type == "str" else raw
    elif fact.kind == "switch":
        value = _truthy(raw)
    elif isinstance(raw, str) and fact.type in ("int", "float", "number"):
        value = _number(raw)
    if fact.type == "int" and isinstance(value, float) and value.is_integer():
        value = int(value)
    if fact.type == "str" and isinstance(value, int | float) and not isinstance(value, bool):
        value = str(value)
    if arg == "text_encoder_lr" and isinstance(value, list) and value:
        value = value[0] if len(set(value)) == 1 else value
    try:
        value = coerce_override(interface, script, arg, value, key)
    except UserError as exc:
        result.note(key, "not understood", str(exc))
        return
    result.overrides[arg] = value
    result.note(key, "mapped", f"sd-scripts {arg}" + ("" if arg == key else f" (from {key})"))


def _network(data: dict[str, Any], result: Imported, handled: set[str]) -> None:
    """The network: LoRA_type (GUI) or network_module/network_args (sd-scripts), and its options."""
    options: dict[str, Any] = {}
    algo: str | None = None
    module = "networks.lora"
    if "LoRA_type" in data:
        handled.add("LoRA_type")
        lora_type = str(data["LoRA_type"])
        if lora_type not in LORA_TYPES:
            raise UserError(
                f"LoRA_type {lora_type!r} is not a LoRA kohyawiz plans (SD1/SD2/SDXL LoRA and LyCORIS only)"
            )
        network, algo = LORA_TYPES[lora_type]
        if network == "dylora":
            network, algo = "dylora", None  # kohyawiz trains DyLoRA with sd-scripts' own networks.dylora
        module = "lycoris.kohya" if algo else ("networks.dylora" if network == "dylora" else "networks.lora")
        result.answers["network"] = network
        result.note("LoRA_type", "mapped", f"answers.network = {network}")
        for key in NETWORK_KEYS & set(data):
            handled.add(key)
            renamed = "unit" if key == "block_size" and network == "dylora" else NETWORK_RENAMES.get(key, key)
            options[renamed] = data[key]
        if lora_type == "Standard":
            options.pop("conv_dim", None)
            options.pop("conv_alpha", None)
        preset = data.get("LyCORIS_preset")
        if algo and preset not in (None, "", "full"):
            options["preset"] = preset
        handled.add("LyCORIS_preset")
    elif "network_module" in data:
        handled |= {"network_module", "network_args"}
        module = str(data["network_module"])
        items = data.get("network_args") or []
        if isinstance(items, str):
            items = parse_cli_tokens("--x " + items)[0][1] if items.strip() else []
        if not isinstance(items, list):
            result.note("network_args", "not understood", "network_args must be a list of key=value strings")
            items = []
        parsed = dict(str(i).split("=", 1) for i in items if "=" in str(i))
        if module == "lycoris.kohya":
            algo = parsed.pop("algo", "lora").lower()
            result.answers["network"] = "locon" if algo in ("lora", "locon") else algo
        elif module in MODULE_NETWORKS:
            result.answers["network"] = MODULE_NETWORKS[module]
        else:
            result.note("network_module", "not understood", f"{module} is not a network module kohyawiz plans")
            return
        if parsed.get("preset") in ("full", None):
            parsed.pop("preset", None)
        options.update(parsed)
        result.note("network_module", "mapped", f"answers.network = {result.answers['network']}")
        result.note("network_args", "mapped", "answers.network_options")
    kinds = readable_args(module, algo)
    for key, raw in options.items():
        kind = kinds.get(key)
        if kind is None:
            if not _unset(key, raw) and raw not in (0, "0", -1, 1, "1"):
                result.note(key, "ignored", f"{module}{' algo=' + algo if algo else ''} does not read it")
            continue
        if kind in ("bool", "flag"):
            if _truthy(raw):
                result.answers.setdefault("network_options", {})[key] = True
            continue
        if raw in ("", None):
            continue
        value = _number(raw)
        if key in ("rank_dropout", "module_dropout") and value == 0:
            continue
        result.answers.setdefault("network_options", {})[key] = value
        result.note(key, "mapped", "answers.network_options")


def _gui_specials(data: dict[str, Any], result: Imported, handled: set[str], model: dict[str, Any]) -> None:
    """Fields whose meaning the GUI changes: epoch, xformers, noise offset type, warmup percent, extras."""
    if "epoch" in data and not _unset("max_train_epochs", data.get("max_train_epochs")):
        result.note("epoch", "ignored", "max_train_epochs is set as well and wins")
        handled.add("epoch")
    elif "epoch" in data and isinstance(_number(data["epoch"]), int) and _number(data["epoch"]) > 0:
        result.overrides["max_train_epochs"] = _number(data["epoch"])
        handled |= {"epoch", "max_train_epochs"}
        result.note(
            "epoch",
            "mapped",
            "max_train_epochs: `epoch` is a GUI field sd-scripts never reads (the GUI turns it into steps)",
        )
    if "xformers" in data:
        handled.add("xformers")
        value = data["xformers"]
        choice = "xformers" if value is True or value == "xformers" else "sdpa" if value == "sdpa" else None
        if choice:
            result.answers["attention"] = choice
            result.note("xformers", "mapped", f"answers.attention = {choice}")
        else:
            result.note("xformers", "ignored", "no attention kernel chosen")
    noise_type = str(data.get("noise_offset_type", "Original"))
    dropped = (
        ("multires_noise_iterations", "multires_noise_discount")
        if noise_type == "Original"
        else ("noise_offset", "adaptive_noise_scale", "noise_offset_random_strength")
    )
    for key in dropped:
        if key in data:
            handled.add(key)
            result.note(key, "ignored", f"noise_offset_type is {noise_type}, so the GUI does not pass it")
    if "lr_warmup" in data and _unset("lr_warmup_steps", data.get("lr_warmup_steps")):
        percent = _number(data["lr_warmup"])
        if isinstance(percent, int | float) and percent > 0:
            result.overrides["lr_warmup_steps"] = float(percent) / 100
            result.note("lr_warmup", "mapped", "lr_warmup_steps as a ratio of total steps")
    if _truthy(data.get("use_8bit_adam")) and "optimizer" not in data:
        result.answers["optimizer"] = "adamw8bit"
    optimizer = data.get("optimizer", data.get("optimizer_type"))
    if isinstance(optimizer, str) and optimizer.lower() in OPTIMIZERS:
        result.answers["optimizer"] = optimizer.lower()
        handled |= {"optimizer", "optimizer_type"}
        result.note(
            "optimizer" if "optimizer" in data else "optimizer_type", "mapped", f"answers.optimizer = {optimizer}"
        )
    extra = data.get("additional_parameters")
    if "additional_parameters" in data:
        handled.add("additional_parameters")
        for name, values in parse_cli_tokens(extra if isinstance(extra, str) else ""):
            if name == "zero_terminal_snr":
                model["zsnr"] = True
                result.note("additional_parameters --zero_terminal_snr", "mapped", "answers.model.zsnr")
            else:
                data.setdefault(f"--{name}", values[0] if len(values) == 1 else values or True)


def parse_cli_tokens(text: str) -> list[tuple[str, list[str]]]:
    """`--flag`, `--key value ...` and `--key=value` tokens, as the GUI appends them to the command."""
    try:
        tokens = shlex.split(text)
    except ValueError:
        tokens = text.split()
    parsed: list[tuple[str, list[str]]] = []
    for token in tokens:
        if token.startswith("--"):
            name, sep, value = token[2:].partition("=")
            parsed.append((name, [value] if sep else []))
        elif parsed:
            parsed[-1][1].append(token)
    return parsed


def read_config(path: Path, dataset: Path | None = None) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """A GUI JSON, or an sd-scripts TOML flattened as sd-scripts does, plus its dataset config."""
    text = read_text(path, "kohya_ss or sd-scripts config")
    if path.suffix.lower() == ".json":
        data = parse_json(text, "kohya_ss GUI config", str(path))
        if not isinstance(data, dict):
            raise UserError("not a kohya_ss config (the JSON is not an object)", where=str(path))
        return data, None
    loaded = parse_toml(text, "sd-scripts config", str(path))
    flat: dict[str, Any] = {}
    for key, value in loaded.items():
        if isinstance(value, dict):
            flat.update(value)
        else:
            flat[key] = value
    dataset_data = None
    target = dataset or (Path(str(flat["dataset_config"])) if flat.get("dataset_config") else None)
    if target is not None:
        if not target.is_absolute():
            target = path.parent / target
        dataset_data = read_toml(target, "dataset config")
    return flat, dataset_data


def dataset_answers(dataset: dict[str, Any], result: Imported) -> None:
    """Concept names and repeats from a dataset config; its shared keys become overrides."""
    general = dataset.get("general", {}) if isinstance(dataset.get("general"), dict) else {}
    datasets = dataset.get("datasets", []) if isinstance(dataset.get("datasets"), list) else []
    concepts = []
    for block in datasets:
        for subset in block.get("subsets", []) if isinstance(block, dict) else []:
            if not isinstance(subset, dict) or "image_dir" not in subset:
                continue
            name = Path(str(subset["image_dir"])).name.partition("_")[2] or Path(str(subset["image_dir"])).name
            repeats = subset.get("num_repeats", 1)
            concept: dict[str, Any] = {"name": name}
            if isinstance(repeats, int) and not isinstance(repeats, bool) and repeats >= 1:
                concept["repeats"] = repeats
            concepts.append(concept)
        for key, value in block.items() if isinstance(block, dict) else []:
            if key != "subsets":
                general.setdefault(key, value)
    if concepts:
        result.answers["concepts"] = concepts
        result.note(
            "datasets", "mapped", f"{len(concepts)} concepts with their repeats (folders are given with --dataset)"
        )
    for key, value in general.items():
        arg = "train_batch_size" if key == "batch_size" else str(key)
        if arg == "resolution":
            value = ",".join(str(v) for v in value) if isinstance(value, list) else str(value)
        result.overrides[arg] = value  # the dataset config beats the same argument in sd-scripts
        result.note(f"dataset.general.{key}", "mapped", f"sd-scripts {arg}")
