"""Shipped presets load, layer and replay; bad presets give one clear line."""

from __future__ import annotations

import json
import sys

import pytest
from conftest import REPO

from kohyawiz.assemble import PlanRequest, plan_from_request
from kohyawiz.emit import render, write_plan
from kohyawiz.errors import UserError
from kohyawiz.presets import load_preset, shipped_presets

sys.path.insert(0, str(REPO / "tools"))
import write_schema

EXPECTED = {"character-sd15", "anime-booru", "furry-e6", "style-lycoris", "multi-concept", "sdxl-character", "low-vram"}


def test_the_guides_main_cases_ship():
    assert set(shipped_presets()) >= EXPECTED


@pytest.mark.parametrize("name", sorted(shipped_presets()))
def test_every_shipped_preset_plans(tmp_path, name):
    request = PlanRequest(
        out_dir=tmp_path / "p", preset=name, answers={"vram_gb": 12}, concept_counts=[("x, y", 40), ("x, z", 20)]
    )
    plan, _ = plan_from_request(request)
    assert plan.figures.total_steps > 0


def test_committed_schema_is_current():
    committed = (REPO / "kohyawiz" / "schemas" / "preset-v1.json").read_text()
    assert committed == write_schema.render(), "stale schema: run `python tools/write_schema.py`"
    schema = json.loads(committed)
    assert "required" not in schema["properties"]["answers"]


def test_extends_layers_values(tmp_path):
    low = load_preset("low-vram")
    assert low.answers["vram_gb"] == 6 and low.answers["model"]["family"] == "sd1"
    assert [p.name for p in low.chain] == ["character-sd15.toml", "low-vram.toml"]
    child = tmp_path / "mine.toml"
    child.write_text('schema_version = 1\nextends = "anime-booru"\n[overrides]\nnetwork_dim = 16\n')
    mine = load_preset(str(child))
    assert mine.answers["model"]["tags"] == "booru" and mine.overrides == {"network_dim": 16}


def _write(tmp_path, text, name="bad.toml"):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("schema_version = 2\n", "schema_version is 2"),
        ("schema_version = 1\n[answers]\nsubjekt = 'style'\n", "answers.subjekt"),
        ("schema_version = 1\n[answers.model]\nfamily = 'sd4'\n", "answers.model.family"),
        ("schema_version = 1\n[answers.model]\npath = '/m/x.safetensors'\n", "machine path"),
        ("schema_version = 1\n[overrides]\noutput_dir = '/home/me/out'\n", "machine path"),
        ("schema_version = 1\nextra = 1\n", "extra"),
        ("schema_version = [\n", "not valid TOML"),
    ],
)
def test_bad_presets_name_file_and_key(tmp_path, text, fragment):
    path = _write(tmp_path, text)
    with pytest.raises(UserError, match=fragment) as caught:
        load_preset(path)
    assert path in str(caught.value) and "\n" not in str(caught.value)


def test_extends_loop_is_refused(tmp_path):
    _write(tmp_path, 'schema_version = 1\nextends = "b.toml"\n', "a.toml")
    _write(tmp_path, 'schema_version = 1\nextends = "a.toml"\n', "b.toml")
    with pytest.raises(UserError, match="loop"):
        load_preset(str(tmp_path / "a.toml"))


def test_preset_override_unknown_key_names_the_file(tmp_path):
    path = _write(tmp_path, "schema_version = 1\n[overrides]\nnetwork_dimm = 16\n")
    request = PlanRequest(
        out_dir=tmp_path / "p",
        preset=path,
        answers={"subject": "character", "model": {"family": "sd1"}, "vram_gb": 8},
        concept_counts=[("x", 30)],
    )
    with pytest.raises(UserError, match=r"bad\.toml: overrides\.network_dimm"):
        plan_from_request(request)


def test_written_preset_replays_to_the_same_files(tmp_path):
    first = PlanRequest(
        out_dir=tmp_path / "one", preset="style-lycoris",
        answers={"vram_gb": 10, "samples": True, "model": {"path": "/m/base.safetensors"}},
        concept_counts=[("brushy", 120)], overrides={"network_dim": "16"},
    )  # fmt: skip
    plan, _ = plan_from_request(first)
    written = write_plan(plan)
    replay = PlanRequest(
        out_dir=tmp_path / "one", preset=str(written["preset.toml"]),
        answers={"model": {"path": "/m/base.safetensors"}}, concept_counts=[("brushy", 120)],
    )  # fmt: skip
    again, _ = plan_from_request(replay)
    a, b = render(plan), render(again)
    for name in ("config.toml", "dataset.toml", "sample_prompts.txt", "lycoris_preset.toml"):
        assert a[name] == b[name], name
