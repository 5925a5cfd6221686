"""sd-scripts' value syntax, and the values the rules and the constraints both compare against.

They sit beside the facts, below rules, constraints, memory and emit, so each of those reads a
resolution or an optimizer default without importing another's modules.
"""

from __future__ import annotations

ADAPTIVE_ARGS = ["decouple=True", "weight_decay=0.1", "betas=0.9,0.99"]
"""T-OPT's optimizer_args for Prodigy and DAdaptAdam; C-OPTIMIZER drops them for other optimizers."""
ADAM_LEARNING_RATE = 1e-4
"""T-OPT's learning rate for Adam-family optimizers; C-OPTIMIZER gives way to it."""
MODEL_SUFFIXES = (".safetensors", ".ckpt", ".pt", ".pth", ".bin", ".sft", ".gguf")


def written_as_path(name: str) -> bool:
    """A model name typed as a file or folder, never a Hugging Face id ("org/name", one slash):
    rooted, relative with ./ or ~, Windows-style, two or more folders deep, or a model file's name."""
    return (name.startswith(("/", ".", "~")) or "\\" in name or name.count("/") >= 2
            or name.lower().endswith(MODEL_SUFFIXES))  # fmt: skip


def parse_resolution(value: object) -> tuple[int, int]:
    """sd-scripts' resolution: "512" or "W,H" (also an int or a pair, as a dataset config has it)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value, value
    if isinstance(value, list | tuple) and len(value) == 2:
        return int(value[0]), int(value[1])
    parts = [p.strip() for p in str(value).split(",")]
    if len(parts) == 1:
        return int(parts[0]), int(parts[0])
    if len(parts) == 2:
        return int(parts[0]), int(parts[1])
    raise ValueError(f"resolution {value!r} is neither 'N' nor 'W,H'")
