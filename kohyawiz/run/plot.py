"""A loss plot as a PNG, drawn with Pillow (imported only here)."""

from __future__ import annotations

from pathlib import Path


def loss_plot(points: list[tuple[int, float]], path: Path, size: tuple[int, int] = (800, 400)) -> Path:
    from PIL import Image, ImageDraw

    points = sorted({step: value for step, value in points}.items())  # the last loss of each step
    width, height = size
    margin = 40
    image = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(image)
    steps = [s for s, _ in points]
    values = [v for _, v in points if v == v]
    if not values:
        image.save(path)
        return path
    low, high = min(values), max(values)
    span_v = (high - low) or 1.0
    span_s = (max(steps) - min(steps)) or 1

    def xy(step: int, value: float) -> tuple[float, float]:
        x = margin + (step - min(steps)) / span_s * (width - 2 * margin)
        y = height - margin - (value - low) / span_v * (height - 2 * margin)
        return x, y

    draw.rectangle([margin, margin, width - margin, height - margin], outline="#888")
    draw.line([xy(s, v) for s, v in points if v == v], fill="#1f77b4", width=2)
    draw.text((margin, 10), f"loss {low:.4g} .. {high:.4g} over steps {min(steps)}..{max(steps)}", fill="black")
    image.save(path)
    return path
