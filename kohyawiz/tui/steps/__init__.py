"""The wizard's steps, one module each, in the order they are asked."""

from __future__ import annotations

from kohyawiz.tui.steps.base import Step
from kohyawiz.tui.steps.dataset import DatasetStep
from kohyawiz.tui.steps.hardware import HardwareStep
from kohyawiz.tui.steps.model import ModelStep
from kohyawiz.tui.steps.network import NetworkStep
from kohyawiz.tui.steps.review import ReviewStep
from kohyawiz.tui.steps.subject import SubjectStep
from kohyawiz.tui.steps.train import TrainStep
from kohyawiz.tui.steps.write import WriteStep

STEP_CLASSES: tuple[type[Step], ...] = (
    SubjectStep, ModelStep, DatasetStep, HardwareStep, NetworkStep, ReviewStep, WriteStep, TrainStep,
)  # fmt: skip
STEPS = [cls.step_id for cls in STEP_CLASSES]

__all__ = ["STEPS", "STEP_CLASSES", "Step"]
