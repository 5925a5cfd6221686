"""Step counts equal sd-scripts' own: the bucket arithmetic, and the figures of a plan."""

from __future__ import annotations

import ast
import math
import os
import random
from pathlib import Path

import pytest
from conftest import make_folder, plan_for

from kohyawiz.assemble import PlanRequest, plan_from_request
from kohyawiz.buckets import BucketAssigner, BucketSettings, bucket_resolutions, count_batches


def test_square_bucket_and_grid():
    resos = bucket_resolutions((768, 768), 256, 768, 64)
    assert (768, 768) in resos and (256, 768) in resos and (768, 256) in resos
    assert all(w * h <= 768 * 768 for w, h in resos)
    assert all(w % 64 == 0 and h % 64 == 0 for w, h in resos)


def test_select_picks_nearest_aspect():
    assigner = BucketAssigner(BucketSettings((512, 512), True, 256, 512, 64))
    assert assigner.select(512, 512) == (512, 512)
    assert assigner.select(1000, 500) == (512, 256)  # aspect 2.0 is on the grid


def test_no_bucket_means_one_bucket():
    counted = count_batches([((700, 300), 3), ((300, 700), 2)], BucketSettings((512, 512), False, batch_size=2))
    assert counted.buckets == {(512, 512): 5} and counted.batches == 3


def test_batches_are_counted_per_bucket():
    settings = BucketSettings((512, 512), True, 256, 512, 64, batch_size=2)
    counted = count_batches([((512, 512), 3), ((1024, 512), 1)], settings)
    assert counted.batches == math.ceil(3 / 2) + math.ceil(1 / 2)


def test_no_upscale_keeps_small_images_small():
    settings = BucketSettings((512, 512), True, 256, 512, 64, bucket_no_upscale=True)
    assert BucketAssigner(settings).select(300, 200) == (256, 192)
    width, height = BucketAssigner(settings).select(2000, 1000)
    assert width * height <= 512 * 512 and width % 64 == 0 and height % 64 == 0


def test_plan_figures_match_the_real_log_of_a_two_epoch_run(tmp_path):
    """lora-console-log-simple.log: 4 images of 64x64, 1 repeat, 2 epochs -> 8 steps ... with 4 batches."""
    folder = make_folder(tmp_path / "data", "1_tinyconcept", [(64, 64)] * 4, "tinyconcept")
    request = PlanRequest(
        out_dir=tmp_path / "plan",
        answers={"subject": "concept", "model": {"family": "sd1"}, "vram_gb": 12},
        dataset=folder.parent,
        overrides={"resolution": "64", "min_bucket_reso": "64", "max_bucket_reso": "128", "max_train_epochs": "2"},
    )
    plan, _ = plan_from_request(request)
    assert plan.figures.exact
    assert plan.figures.buckets == {(64, 64): 4}
    assert plan.figures.total_steps == 8  # the log: "override steps. steps for 2 epochs is ...: 8"


def test_figures_arithmetic_mentions_each_step(tmp_path):
    plan = plan_for(tmp_path, concepts=[{"name": "a", "images": 10}])
    text = "\n".join(plan.figures.arithmetic)
    assert "10 images x 1 repeats" in text and "total steps: 100 epochs x 10 = 1000" in text
    assert plan.figures.total_steps == 1000 and not plan.figures.exact


def _sd_scripts_bucket_code(root: Path) -> dict:
    """Take sd-scripts' own bucket functions from a checkout and run them in isolation (a test peer)."""
    import numpy as np

    namespace: dict = {"np": np, "math": math, "random": random, "Tuple": tuple, "List": list, "logger": None}
    for relative, names in (
        ("library/model_util.py", {"make_bucket_resolutions"}),
        ("library/train_util.py", {"BucketManager"}),
    ):
        tree = ast.parse((root / relative).read_text())
        nodes = [n for n in tree.body if isinstance(n, ast.FunctionDef | ast.ClassDef) and n.name in names]
        module = ast.Module(body=nodes, type_ignores=[])
        exec(compile(module, relative, "exec"), namespace)
    namespace["model_util"] = type(
        "M", (), {"make_bucket_resolutions": staticmethod(namespace["make_bucket_resolutions"])}
    )
    return namespace


@pytest.mark.sdscripts
def test_buckets_equal_sd_scripts_own_code():
    root = os.environ.get("KOHYAWIZ_SD_SCRIPTS")
    if not root or not (Path(root) / "library" / "train_util.py").is_file():
        pytest.skip("set KOHYAWIZ_SD_SCRIPTS to an sd-scripts checkout")
    pytest.importorskip("numpy")
    peer = _sd_scripts_bucket_code(Path(root))
    rng = random.Random(7)
    for trial in range(60):
        reso = rng.choice([(512, 512), (768, 768), (1024, 1024), (640, 896), (64, 64)])
        steps = rng.choice([32, 64])
        no_upscale = trial % 3 == 0
        low, high = 256 if reso[0] >= 256 else 64, max(reso) + rng.choice([0, 64, 256])
        manager = peer["BucketManager"](no_upscale, reso, low, high, steps)
        if not no_upscale:
            manager.make_buckets()
        ours = BucketAssigner(BucketSettings(reso, True, low, high, steps, no_upscale))
        for _ in range(200):
            w, h = rng.randint(48, 4000), rng.randint(48, 4000)
            try:
                theirs = tuple(manager.select_bucket(w, h)[0])
            except ZeroDivisionError:  # sd-scripts fails on extreme aspect ratios without upscaling
                with pytest.raises(ValueError):
                    ours.select(w, h)
                continue
            assert ours.select(w, h) == theirs, (reso, steps, no_upscale, w, h)
