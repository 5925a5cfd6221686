"""What the network modules refuse or ignore (networks/lora.py, networks/dylora.py,
train_network.py, and LyCORIS' lycoris/kohya.py)."""

from __future__ import annotations

from kohyawiz.constraints.base import Checker, constraint

# networks/lora.py: blocks of the block-wise dims and alphas, per family.
_LORA_BLOCKS = {False: 12 * 2 + 1, True: 1 + 9 * 2 + 3 + 1}
_BLOCK_KEYS = ("block_dims", "block_alphas", "conv_block_dims", "conv_block_alphas")


def network_values(c: Checker) -> dict[str, str]:
    args = [str(a) for a in c.value("network_args") or []]
    return dict(a.split("=", 1) for a in args if "=" in a)


@constraint("C-DYLORA", "networks/dylora.py", "DyLoRA's rank is a multiple of its unit, and conv_dim equals network_dim")
def dylora_shapes(c: Checker) -> None:
    values = network_values(c)
    module = c.value("network_module")
    dim = c.value("network_dim")
    unit_key = "unit" if module == "networks.dylora" else "block_size" if values.get("algo") == "dylora" else None
    if unit_key and isinstance(dim, int):
        try:
            unit = int(values.get(unit_key, "1" if unit_key == "unit" else "4"))
        except ValueError:
            unit = 0
        if unit <= 0 or dim % unit:
            c.refuse("C-DYLORA", f"DyLoRA network_dim {dim} must be a multiple of {unit_key}={unit}",
                     f"choose a network_dim that {unit_key} divides")  # fmt: skip
    if module == "networks.dylora" and "conv_dim" in values and values["conv_dim"] != str(dim):
        c.refuse("C-DYLORA", "networks.dylora needs conv_dim equal to network_dim", f"set conv_dim={dim}")


@constraint("C-BOFT", "lycoris/modules/boft.py (via lycoris/kohya.py)", "BOFT needs network_dim 16 or more")
def boft_dim(c: Checker) -> None:
    dim = c.value("network_dim")
    if c.lycoris and network_values(c).get("algo") == "boft" and isinstance(dim, int) and 0 < dim < 16:
        c.resolve("C-BOFT", f"BOFT needs network_dim 16 or more (got {dim}): SD widths cannot be factored below that",
                  [("network_dim", 16)], stops=True, fix="set network_dim=16 or more")  # fmt: skip


@constraint("C-NORMS", "train_network.py", "scale_weight_norms is turned off for networks without max-norm support")
def weight_norms_supported(c: Checker) -> None:
    if c.value("scale_weight_norms") is not None and c.value("network_module") == "networks.dylora":
        c.resolve("C-NORMS", "networks.dylora has no max-norm regularisation, so sd-scripts turns "
                             "scale_weight_norms off", [("scale_weight_norms", None)], stops=False,
                  fix="it has no effect; drop it")  # fmt: skip


@constraint("C-BLOCKS", "networks/lora.py", "block-wise dims and alphas list one value per block (25 SD1/SD2, 23 SDXL)")
def block_lists(c: Checker) -> None:
    if c.value("network_module") != "networks.lora":
        return
    blocks = _LORA_BLOCKS[c.sdxl]
    for key, text in network_values(c).items():
        if key in _BLOCK_KEYS and len(text.split(",")) != blocks:
            c.refuse("C-BLOCKS", f"network_args {key} has {len(text.split(','))} values, not {blocks}",
                     f"give {blocks} comma-separated values")  # fmt: skip
