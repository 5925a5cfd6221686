"""Opt-in: feed emitted dataset configs to sd-scripts' own ConfigSanitizer (voluptuous), taken
from a checkout named by KOHYAWIZ_SD_SCRIPTS, with its heavy imports stubbed out."""

from __future__ import annotations

import pytest
import toml
from conftest import plan_for

from kohyawiz import emit

pytestmark = pytest.mark.sdscripts



@pytest.mark.parametrize("network", ["lora", "locon", "dylora"])
@pytest.mark.parametrize("family", ["sd1", "sd2", "sdxl"])
def test_dataset_config_passes_sd_scripts_sanitizer(tmp_path, sanitizer_class, network, family):
    plan = plan_for(
        tmp_path, network=network, model={"family": family}, samples=True,
        concepts=[{"name": "a, x", "images": 30}, {"name": "a, y", "images": 9}],
        overrides={"shuffle_caption": "true", "face_crop_aug_range": "2.0,4.0", "flip_aug": "false"},
    )  # fmt: skip
    data = toml.loads(emit.render(plan)["dataset.toml"])
    sanitizer = sanitizer_class(True, True, False, True)
    sanitized = sanitizer.sanitize_user_config(data)
    assert [s["num_repeats"] for s in sanitized["datasets"][0]["subsets"]] == [1, 3]


def test_sanitizer_rejects_what_kohyawiz_also_rejects(tmp_path, sanitizer_class):
    import voluptuous

    sanitizer = sanitizer_class(True, True, False, True)
    with pytest.raises(voluptuous.MultipleInvalid):
        sanitizer.sanitize_user_config({"general": {"resolution": "512"}, "datasets": []})
    from kohyawiz.facts import load_interface

    assert load_interface().check_dataset_key("general", "resolution", "512") is not None
