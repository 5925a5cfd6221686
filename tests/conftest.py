from __future__ import annotations

import os
import sys
import types
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings

from kohyawiz.answers import Answers
from kohyawiz.demo import png_bytes
from kohyawiz.plan import Plan, build_plan

# The same examples on every run: a property test either fails everywhere or nowhere.
settings.register_profile("kohyawiz", derandomize=True, deadline=None)
settings.load_profile("kohyawiz")

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _own_kohyawiz_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test its own kohyawiz home (runs, queue, the ledger of named paths): nothing of the
    person's real home is read or written, and no test sees another's."""
    monkeypatch.setenv("KOHYAWIZ_HOME", str(tmp_path_factory.mktemp("kohyawiz-home")))
SHARED = Path(os.environ.get("KOHYAWIZ_SHARED", REPO.parent / "shared"))
# Plans are made for a 64 GB training machine whatever machine runs the tests (K-RAM reads
# /proc/meminfo otherwise); subprocesses inherit it. Tests of K-RAM pass ram_gb themselves.
os.environ.setdefault("KOHYAWIZ_RAM_GB", "64")


def make_answers(**changes: Any) -> Answers:
    data: dict[str, Any] = {
        "subject": "character",
        "model": {"family": "sd1", "tags": "natural", "path": "/models/base.safetensors"},
        "vram_gb": 12,
        "concepts": [{"name": "hmbrgr", "images": 30}],
    }
    model = changes.pop("model", {})
    data["model"].update(model)
    data.update(changes)
    return Answers.model_validate(data)


def plan_for(tmp_path: Path, **changes: Any) -> Plan:
    version = changes.pop("sd_scripts_version", None)
    sizes = changes.pop("sizes", None)
    preset_overrides = changes.pop("preset_overrides", None)
    return build_plan(
        make_answers(**changes), tmp_path / "plan", sizes=sizes, preset_overrides=preset_overrides,
        sd_scripts_version=version,
    )  # fmt: skip


def make_folder(root: Path, name: str, sizes: list[tuple[int, int]], caption: str | None = None) -> Path:
    folder = root / name
    folder.mkdir(parents=True, exist_ok=True)
    for index, (width, height) in enumerate(sizes):
        (folder / f"img{index:03d}.png").write_bytes(png_bytes(width, height, (17 * index + len(name)) % 256))
        if caption is not None:
            (folder / f"img{index:03d}.txt").write_text(caption)
    return folder


@pytest.fixture(autouse=True)
def own_kohyawiz_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test its own kohyawiz home: nothing reads or writes the developer's real one
    (~/.local/share/kohyawiz: learned facts, runs, the queue, remembered answers)."""
    home = tmp_path_factory.mktemp("kohyawiz-home")
    monkeypatch.setenv("KOHYAWIZ_HOME", str(home))
    monkeypatch.setenv("XDG_DATA_HOME", str(home / "xdg-unused"))
    return home


@pytest.fixture
def shared() -> Path:
    if not (SHARED / "sd-scripts").is_dir():
        pytest.skip("the shared sd-scripts facts are not beside this checkout")
    return SHARED


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
