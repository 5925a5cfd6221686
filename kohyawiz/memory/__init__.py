"""The memory model: how much VRAM a plan needs, and the ladder that makes it fit."""

from __future__ import annotations

from kohyawiz.memory.estimate import VramEstimate, estimate_vram
from kohyawiz.memory.fit import Fit, FitContext, fit_to_budget, smallest_budget

__all__ = ["Fit", "FitContext", "VramEstimate", "estimate_vram", "fit_to_budget", "smallest_budget"]
