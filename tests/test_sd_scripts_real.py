"""Opt-in: feed emitted dataset configs to sd-scripts' own ConfigSanitizer (voluptuous), taken
from a checkout named by KOHYAWIZ_SD_SCRIPTS, with its heavy imports stubbed out."""

from __future__ import annotations

import os
import sys
import types
from pathlib import Path

import pytest
import toml
from conftest import plan_for

from kohyawiz import emit

pytestmark = pytest.mark.sdscripts


def _stub_module(name: str) -> types.ModuleType:
    module = types.ModuleType(name)
    module.__getattr__ = lambda attr: type(attr, (), {"__init__": lambda self, *a, **k: None})  # type: ignore[method-assign]
    return module


@pytest.fixture(scope="module")
def sanitizer_class():
    root = os.environ.get("KOHYAWIZ_SD_SCRIPTS")
    if not root or not (Path(root) / "library" / "config_util.py").is_file():
        pytest.skip("set KOHYAWIZ_SD_SCRIPTS to an sd-scripts checkout")
    pytest.importorskip("voluptuous")
    package = types.ModuleType("kw_sd_library")
    package.__path__ = []  # type: ignore[attr-defined]
    saved = {
        k: sys.modules.get(k)
        for k in ("kw_sd_library", "kw_sd_library.train_util", "kw_sd_library.utils", "transformers")
    }
    sys.modules.update(
        {
            "kw_sd_library": package,
            "kw_sd_library.train_util": _stub_module("kw_sd_library.train_util"),
            "kw_sd_library.utils": _stub_module("kw_sd_library.utils"),
        }
    )
    if saved["transformers"] is None:
        sys.modules["transformers"] = _stub_module("transformers")
    module = types.ModuleType("kw_sd_library.config_util")
    module.__package__ = "kw_sd_library"
    sys.modules["kw_sd_library.config_util"] = module  # dataclasses look their module up here
    source = (Path(root) / "library" / "config_util.py").read_text()
    exec(compile(source, "config_util.py", "exec"), module.__dict__)
    yield module.ConfigSanitizer
    sys.modules.pop("kw_sd_library.config_util", None)
    for key, value in saved.items():
        if value is None:
            sys.modules.pop(key, None)
        else:
            sys.modules[key] = value


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
