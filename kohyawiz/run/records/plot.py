"""Pictures of a run: the loss plot (matplotlib, imported only here) and the contact sheet of
sample images (Pillow)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kohyawiz.loss import moving_average
from kohyawiz.run.records.history import SMOOTHING, RunHistory, sample_key

SIZE_INCHES = (10, 5)
DPI = 110


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")  # files only, never a window
    import matplotlib.pyplot as plt

    return plt


def loss_plot(history: RunHistory, path: Path) -> Path:
    """Loss per step with its moving average, epoch boundaries, checkpoints, and the A-LOSS shift
    with the last checkpoint before it highlighted."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=SIZE_INCHES, dpi=DPI)
    try:
        steps = [s for s, _ in history.losses]
        values = [v for _, v in history.losses]
        ax.plot(steps, values, color="#9ecae1", linewidth=0.8, label="loss per step")
        if values:
            ax.plot(steps, moving_average(values, SMOOTHING), color="#08519c", linewidth=1.8, label="moving average")
        for epoch, start in history.epoch_starts[1:]:
            ax.axvline(start, color="#cccccc", linestyle=":", linewidth=0.8)
            ax.text(start, 0.01, f"epoch {epoch}", transform=ax.get_xaxis_transform(), fontsize=7, color="#888888",
                    ha="left", va="bottom", rotation=90)  # fmt: skip
        for checkpoint in history.checkpoints:
            if checkpoint.step is None:
                continue
            chosen = history.pick is checkpoint
            ax.axvline(checkpoint.step, color="#d62728" if chosen else "#2ca02c", linewidth=1.6 if chosen else 0.9,
                       alpha=0.9 if chosen else 0.6)  # fmt: skip
        if history.validation:
            ax.plot([at for _, at, _ in history.validation], [loss for _, _, loss in history.validation],
                    color="#ff7f0e", marker="o", linewidth=1.4, label="validation loss (K-VALIDATE)")  # fmt: skip
        if history.checkpoints:
            ax.plot([], [], color="#2ca02c", label="checkpoint saved")
        if history.pick is not None:
            ax.plot([], [], color="#d62728", linewidth=1.6, label=f"the checkpoint to try first (by {history.pick_loss} loss)")
        shift = history.loss_shift
        if shift:
            ax.axvspan(shift["step"], steps[-1] if steps else shift["step"], color="#ff9896", alpha=0.25,
                       label=f"loss shift (A-LOSS) at step {shift['step']}")  # fmt: skip
        ax.set_xlabel("step")
        ax.set_ylabel("loss")
        title = f"{history.name}: {history.status}"
        if history.final_step is not None and history.total_steps:
            title += f", step {history.final_step}/{history.total_steps}"
        ax.set_title(title)
        ax.grid(True, alpha=0.3)
        if values:
            ax.legend(loc="best", fontsize=8, framealpha=0.9)
        else:
            ax.text(0.5, 0.5, "no loss was logged", transform=ax.transAxes, ha="center")
        fig.tight_layout()
        fig.savefig(path)
    finally:
        plt.close(fig)
    return path


def compare_plot(histories: list[RunHistory], path: Path) -> Path:
    """The moving-average loss of several runs over their steps, one line each."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=SIZE_INCHES, dpi=DPI)
    try:
        for history in histories:
            steps = [s for s, _ in history.losses]
            values = moving_average([v for _, v in history.losses], SMOOTHING)
            ax.plot(steps, values, linewidth=1.5, label=f"{history.folder.name} ({history.status})")
            for checkpoint in history.checkpoints:
                if checkpoint.step is not None and checkpoint.loss_around is not None:
                    ax.plot([checkpoint.step], [checkpoint.loss_around], marker="o", markersize=3, color="#444444")
        ax.set_xlabel("step")
        ax.set_ylabel("loss (moving average); dots: checkpoints")
        ax.set_title("runs compared")
        ax.grid(True, alpha=0.3)
        ax.legend(loc="upper right", fontsize=8)
        fig.tight_layout()
        fig.savefig(path)
    finally:
        plt.close(fig)
    return path


def contact_sheet(history: RunHistory, path: Path, cell: int = 192) -> Path | None:
    """One image: checkpoints as rows, prompts as columns, each row labelled with its epoch or step."""
    from PIL import Image, ImageDraw, UnidentifiedImageError

    rows = [c for c in history.checkpoints if c.samples]
    if not rows:
        return None
    columns = 1 + max(max((sample_key(Path(s)) or ("", 0, 0))[2] for s in c.samples) for c in rows)
    label = 120
    sheet = Image.new("RGB", (label + columns * cell, len(rows) * cell), "white")
    draw = ImageDraw.Draw(sheet)
    for row, checkpoint in enumerate(rows):
        name = f"epoch {checkpoint.epoch}" if checkpoint.epoch is not None else f"step {checkpoint.step}"
        mark = " <- try" if history.pick is checkpoint else ""
        draw.text((6, row * cell + cell // 2 - 6), name + mark, fill="black")
        for sample in checkpoint.samples:
            key = sample_key(Path(sample))
            if key is None:
                continue
            try:
                with Image.open(sample) as image:
                    thumb = image.convert("RGB")
                    thumb.thumbnail((cell, cell))
            except (OSError, UnidentifiedImageError):
                continue
            sheet.paste(thumb, (label + key[2] * cell, row * cell))
    sheet.save(path)
    return path
