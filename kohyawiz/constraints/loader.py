"""The DataLoader sd-scripts builds (train_network.py)."""

from __future__ import annotations

from kohyawiz.constraints.base import Checker, constraint


@constraint(
    "C-LOADER",
    "train_network.py (torch.utils.data.DataLoader)",
    "persistent loader workers need at least one worker; torch refuses persistent_workers with num_workers 0",
)
def persistent_workers_need_workers(c: Checker) -> None:
    workers = c.number("max_data_loader_n_workers", 8)
    if not c.on("persistent_data_loader_workers") or workers > 0:
        return
    c.resolve(
        "C-LOADER",
        f"persistent_data_loader_workers needs max_data_loader_n_workers above 0 ({c.who('max_data_loader_n_workers')} "
        f"{workers:g})",
        [("persistent_data_loader_workers", None), ("max_data_loader_n_workers", 1)],
        stops=True,
        fix="drop persistent_data_loader_workers or set max_data_loader_n_workers=1 or more",
    )
