"""Any answers give a plan or one clear UserError, never a crash."""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from kohyawiz.answers import Answers
from kohyawiz.emit import render
from kohyawiz.errors import UserError
from kohyawiz.plan import build_plan

concepts = st.lists(
    st.fixed_dictionaries(
        {"name": st.text(st.characters(blacklist_characters="/\\\x00"), min_size=1, max_size=12),
         "images": st.integers(0, 400)},
        optional={"folder_repeats": st.integers(1, 40), "repeats": st.integers(1, 40)},
    ),
    min_size=1, max_size=4,
)  # fmt: skip
answers = st.fixed_dictionaries(
    {
        "subject": st.sampled_from(["character", "concept", "object", "clothing", "style"]),
        "model": st.fixed_dictionaries(
            {"family": st.sampled_from(["sd1", "sd2", "sdxl"])},
            optional={
                "tags": st.sampled_from(["natural", "booru", "e6"]), "vpred": st.booleans(), "zsnr": st.booleans(),
                "clip_skip": st.integers(1, 12), "native_resolution": st.integers(256, 4096),
            },
        ),
        "vram_gb": st.floats(0.5, 200),
        "concepts": concepts,
    },
    optional={
        "network": st.sampled_from(["lora", "locon", "loha", "lokr", "dylora", "glora", "ia3", "diag-oft", "boft", "full"]),
        "optimizer": st.sampled_from(["prodigy", "dadaptadam", "adamw", "adamw8bit"]),
        "gpus": st.integers(1, 8), "samples": st.booleans(), "asymmetric": st.booleans(),
        "overrides": st.dictionaries(
            st.sampled_from(["network_dim", "resolution", "train_batch_size", "flip_aug", "learning_rate", "bogus"]),
            st.one_of(st.text(max_size=8), st.integers(-5, 3000), st.booleans(), st.floats(allow_nan=True)),
            max_size=3,
        ),
    },
)  # fmt: skip


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(answers)
def test_any_answers_plan_or_fail_clearly(tmp_path_factory, data):
    try:
        parsed = Answers.model_validate(data)
    except ValidationError:
        return
    out = Path(tmp_path_factory.mktemp("plan"))
    try:
        plan = build_plan(parsed, out)
    except UserError as exc:
        assert "\n" not in str(exc)
        return
    files = render(plan)
    figures = plan.figures
    assert figures.total_steps == figures.epochs * figures.steps_per_epoch
    assert (figures.total_steps > 0) == (figures.images_with_repeats > 0)  # no images plan no steps
    assert {"config.toml", "dataset.toml", "plan.json"} <= set(files)
