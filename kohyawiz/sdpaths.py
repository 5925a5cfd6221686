"""Paths as sd-scripts will see them. `kohyawiz train` runs sd-scripts in its own checkout, so a
relative path in a plan would be looked for there, not where the person typed it: the core makes
every path a plan writes absolute, from the folder kohyawiz was run in (the faces pass what was
typed), and preflight looks for each one from the checkout."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from kohyawiz.families import SPECS
from kohyawiz.values import written_as_path

# Arguments that name a file or folder on this machine, never a Hugging Face id.
LOCAL_ARGS = frozenset(
    {
        "output_dir", "logging_dir", "tokenizer_cache_dir", "conditioning_data_dir", "train_data_dir",
        "reg_data_dir", "in_json", "config_file", "dataset_config", "console_log_file", "log_tracker_config",
        "sample_prompts", "network_weights", "base_weights", "resume", "llm_adapter_path",
        "offload_optimizer_nvme_path", "offload_param_nvme_path",
    }
    | {c.arg for spec in SPECS.values() for c in spec.companions if not c.folder_ok and c.arg != "vae"}
)  # fmt: skip
# Arguments that take a local file or folder, or a Hugging Face id (diffusers' from_pretrained).
LOCAL_OR_HUB_ARGS = frozenset(
    {"pretrained_model_name_or_path", "vae", "t5_tokenizer_path", "controlnet_model_name_or_path"}
    | {c.arg for spec in SPECS.values() for c in spec.companions if c.folder_ok}
)
PATH_ARGS = LOCAL_ARGS | LOCAL_OR_HUB_ARGS
# What sd-scripts creates itself when it is missing; everything else it only reads.
CREATED_ARGS = frozenset({"output_dir", "logging_dir", "tokenizer_cache_dir", "console_log_file"})


def looks_local(name: str, base: Path | None = None) -> bool:
    """A file or folder rather than a Hugging Face id ("org/name"): it is written as a path, ends
    like a model file, or exists from `base` (the current folder)."""
    if written_as_path(name):
        return True
    try:
        return ((base or Path.cwd()) / name).exists()
    except (OSError, ValueError):  # a name too long (or odd) to be a file here
        return False


def absolute(name: str, base: Path | None = None) -> str:
    """`name` from `base` (the current folder): `~` expanded and `..` folded, symlinks kept as named."""
    path = Path(name).expanduser()
    return os.path.normpath(path if path.is_absolute() else (base or Path.cwd()) / path)


def is_local(key: str, value: Any, base: Path | None = None) -> bool:
    """Whether argument `key` with text `value` names something on this machine."""
    if not isinstance(value, str) or not value.strip():
        return False
    return key in LOCAL_ARGS or (key in LOCAL_OR_HUB_ARGS and looks_local(value, base))


def network_option_path(name: str, value: Any, base: Path | None = None) -> Any:
    """A network option (a network_args `name=value`) with a file path made absolute: LyCORIS reads
    `preset` as a file when it is one (a bare name such as `full` is built in)."""
    if name.strip() == "preset" and isinstance(value, str) and (value.lower().endswith((".toml", ".json")) or "/" in value):
        return absolute(value, base)
    return value


def absolute_arg(key: str, value: Any, base: Path | None = None) -> Any:
    """An sd-scripts argument's value with its paths made absolute; other values unchanged."""
    if key == "network_args" and isinstance(value, list):
        pairs = [str(item).partition("=") for item in value]
        return [f"{k}={network_option_path(k, v, base)}" if sep else k for k, sep, v in pairs]
    if isinstance(value, list) and key in LOCAL_ARGS:
        return [absolute(v, base) if is_local(key, v, base) else v for v in value]
    return absolute(value, base) if is_local(key, value, base) else value
