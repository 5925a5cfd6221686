"""Length, saving, sampling and resuming (train_network.py, library/train_util.py)."""

from __future__ import annotations

from kohyawiz.constraints.base import Checker, constraint


@constraint("C-LENGTH", "train_network.py",
            "max_train_epochs overrides max_train_steps; save_n_epoch_ratio overrides save_every_n_epochs")  # fmt: skip
def length_and_saving(c: Checker) -> None:
    if c.value("max_train_steps") is not None and c.value("max_train_epochs") is not None:
        c.resolve("C-LENGTH", "max_train_epochs overrides max_train_steps in sd-scripts",
                  [("max_train_epochs", None), ("max_train_steps", None)], stops=False,
                  fix="max_train_steps is ignored; set only one of them")  # fmt: skip
    if c.value("save_n_epoch_ratio") is not None and c.value("save_every_n_epochs") is not None:
        c.resolve("C-LENGTH", "save_n_epoch_ratio overrides save_every_n_epochs in sd-scripts",
                  [("save_every_n_epochs", None)], stops=False, fix="save_every_n_epochs is ignored")  # fmt: skip


@constraint("C-SAMPLING", "library/train_util.py verify_training_args",
            "sampling every 0 or fewer epochs or steps is turned off; sampling needs prompts")  # fmt: skip
def sampling(c: Checker) -> None:
    for key in ("sample_every_n_epochs", "sample_every_n_steps"):
        value = c.value(key)
        if isinstance(value, int) and value <= 0:
            c.resolve("C-SAMPLING", f"{key} {value} turns sampling off in sd-scripts", [(key, None)], stops=False,
                      fix="use a positive number")  # fmt: skip
    wants = any(c.value(k) is not None for k in ("sample_every_n_epochs", "sample_every_n_steps", "sample_at_first"))
    if wants and c.value("sample_prompts") is None:
        c.warn("C-SAMPLING", "sampling is asked for but there are no sample prompts (plan with --samples)")


@constraint("C-RESUME", "train_network.py", "initial_step must be below the run's total steps")
def initial_step(c: Checker) -> None:
    """Checked again once the total is known (see check_totals)."""


def check_totals(c: Checker, total_steps: int) -> None:
    start = c.value("initial_step")
    if isinstance(start, int) and start > 0 and start >= total_steps:
        c.refuse("C-RESUME", f"initial_step {start} is not below the run's {total_steps} steps",
                 "lower initial_step or train longer")  # fmt: skip
