"""A-LOSS: a late, sudden shift after a long stable stretch is caught; noise and early drops are not."""

from __future__ import annotations

import random

from kohyawiz.loss import detect_loss_shift


def _series(n, level=0.1, noise=0.01, jump_at=None, jump_to=0.3, seed=1):
    rng = random.Random(seed)
    out = []
    for step in range(1, n + 1):
        base = jump_to if jump_at and step >= jump_at else level
        out.append((step, base + rng.uniform(-noise, noise)))
    return out


def test_A_LOSS_late_jump_names_the_checkpoint_before_it():
    saves = [(epoch, epoch * 100) for epoch in range(1, 11)]
    shift = detect_loss_shift(_series(1000, jump_at=850), saves)
    assert shift is not None and 820 <= shift.step <= 870
    assert shift.saved_epoch == 8 and shift.after > shift.before
    assert "epoch 8" in shift.message()


def test_A_LOSS_stable_noise_and_early_changes_are_quiet():
    assert detect_loss_shift(_series(1000, noise=0.05)) is None
    assert detect_loss_shift(_series(1000, jump_at=150)) is None
    assert detect_loss_shift(_series(20, jump_at=15)) is None


def test_A_LOSS_survives_nan_and_garbage():
    points = [*_series(500), (501, float("nan")), (502, float("inf"))]
    assert detect_loss_shift(points) is None
