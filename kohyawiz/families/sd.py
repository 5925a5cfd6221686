"""SD1.x, SD2.x and SDXL: the families the guide was written for (its parts 3-5)."""

from __future__ import annotations

from kohyawiz.families.base import FamilySpec

SD1 = FamilySpec("sd1", "SD1.x", "train_network.py", "guide", resolution=768, weak_resolution=512)
SD2 = FamilySpec("sd2", "SD2.x", "train_network.py", "guide", resolution=768, weak_resolution=512)
SDXL = FamilySpec(
    "sdxl", "SDXL (Pony, Illustrious, NoobAI...)", "sdxl_train_network.py", "guide", bucket_multiple=32,
    resolution=1024, weak_resolution=768, vram_tiers=(12.0, 24.0),
)  # fmt: skip
