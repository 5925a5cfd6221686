"""T-FAMILY: the model file decides the family. A --family, a preset or an import that contradicts
the checkpoint's header is refused in one line naming both; --force plans anyway and says so; the
wizard shows the same line (it calls the same core)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import pytest
from test_families import HEADERS, header_file
from test_paths import SD1
from textual.widgets import Select, Static
from wizard_driver import fill, settle

from kohyawiz.assemble import PlanRequest, plan_from_request
from kohyawiz.errors import UserError
from kohyawiz.interop.kohya import import_settings
from kohyawiz.tui.app import STEPS, make_app

SDXL = {"model.diffusion_model.input_blocks.4.1.transformer_blocks.0.attn2.to_k.weight": [640, 2048],
        "conditioner.embedders.1.model.ln_final.weight": [1280]}  # fmt: skip


@pytest.fixture
def models(tmp_path) -> dict[str, Path]:
    return {
        "sd1": header_file(tmp_path / "m" / "sd15.safetensors", SD1),
        "sdxl": header_file(tmp_path / "m" / "sdxl.safetensors", SDXL),
        "flux": header_file(tmp_path / "m" / "flux1-dev.safetensors", HEADERS["flux"]),
    }


def _request(tmp_path: Path, model: Path, family: str | None = None, **more) -> PlanRequest:
    answers = {"subject": "character", "vram_gb": 24, "model": {"path": str(model)}}
    if family:
        answers["model"]["family"] = family
    return PlanRequest(out_dir=tmp_path / "plan", answers=answers, concept_counts=[("c", 20)], **more)


@pytest.mark.parametrize(("family", "file", "header"), [("sd1", "sdxl", "sdxl"), ("sdxl", "flux", "flux"),
                                                        ("sd2", "sd1", "sd1"), ("flux", "sdxl", "sdxl")])  # fmt: skip
def test_a_family_the_header_contradicts_is_refused_naming_both(tmp_path, models, family, file, header):
    with pytest.raises(UserError) as caught:
        plan_from_request(_request(tmp_path, models[file], family))
    line = str(caught.value)
    assert "\n" not in line and str(models[file]) in line
    assert f"the family you gave is {family} (" in line and f"the model's header says {header} (" in line
    assert f"--family {header}" in line and "--force" in line


def test_force_plans_anyway_and_says_so_in_the_plan(tmp_path, models):
    plan, _ = plan_from_request(_request(tmp_path, models["sdxl"], "sd1", force=True))
    assert plan.script == "train_network.py"
    said = [f for f in plan.findings if f.rule == "T-FAMILY" and f.level == "warn"]
    assert said and "planned with --force although the family you gave is sd1" in said[0].message
    agreeing, _ = plan_from_request(_request(tmp_path / "ok", models["sdxl"], "sdxl"))
    assert not [f for f in agreeing.findings if f.rule == "T-FAMILY" and f.level == "warn"]
    from_header, _ = plan_from_request(_request(tmp_path / "open", models["sd1"]))
    assert from_header.answers.model.family == "sd1"  # no family given: the header's


def test_an_sdxl_preset_on_an_sd15_file_is_refused_and_the_cli_says_one_line(tmp_path, models):
    request = PlanRequest(out_dir=tmp_path / "plan", preset="sdxl-character", concept_counts=[("c", 20)],
                          answers={"vram_gb": 12, "model": {"path": str(models["sd1"])}})  # fmt: skip
    with pytest.raises(UserError, match=r"sdxl-character\.toml's family is sdxl .* header says sd1"):
        plan_from_request(request)
    cli = subprocess.run(
        [sys.executable, "-m", "kohyawiz", "plan", "--family", "sdxl", "--model", str(models["flux"]), "--subject",
         "character", "--concept", "c=20", "--vram", "24", "--out", str(tmp_path / "cli")],
        capture_output=True, text=True,
    )  # fmt: skip
    assert cli.returncode == 2 and "Traceback" not in cli.stderr and len(cli.stderr.strip().splitlines()) == 1
    assert "the family you gave is sdxl" in cli.stderr and "header says flux" in cli.stderr


def test_an_import_whose_family_flags_contradict_its_model_is_refused(tmp_path, models):
    gui = {"LoRA_type": "Standard", "sdxl": True, "pretrained_model_name_or_path": str(models["sd1"])}
    with pytest.raises(UserError, match=r"its family flags say sdxl .* header says sd1"):
        import_settings(gui, "gui.json")
    gui["sdxl"] = False
    assert import_settings(gui, "gui.json").answers["model"]["family"] == "sd1"
    (tmp_path / "gui.json").write_text(json.dumps({**gui, "sdxl": True}))
    cli = subprocess.run([sys.executable, "-m", "kohyawiz", "import", str(tmp_path / "gui.json"), "--out",
                          str(tmp_path / "imported.toml")], capture_output=True, text=True)  # fmt: skip
    assert cli.returncode == 2 and "its family flags say sdxl" in cli.stderr and not (tmp_path / "imported.toml").exists()


def test_the_wizard_shows_the_same_line(tmp_path, models):
    async def drive() -> tuple[str, str]:
        app = make_app(out_dir=str(tmp_path / "wiz"))
        async with app.run_test(size=(80, 24)) as pilot:
            answers = {"subject": "character", "family": "sdxl", "tags": "natural", "concepts": ["c=20"],
                       "vram": 24, "model": str(models["sdxl"])}  # fmt: skip
            await fill(pilot, answers)
            app.go_to(STEPS.index("model"))
            await settle(pilot)
            app.query_one("#family", Select).value = "sd1"  # the person picks another family
            await settle(pilot)
            on_the_step = str(app.query_one("#model-found", Static).render())
            app.query_one("#family", Select).value = "sdxl"  # back to the header's: the line goes
            await settle(pilot)
            assert "Read from its header" in str(app.query_one("#model-found", Static).render())
            app.query_one("#family", Select).value = "sd1"
            await settle(pilot)
            app.go_to(STEPS.index("write"))
            await settle(pilot)
            assert STEPS[app.step] == "review"  # the plan cannot be made: the wizard stays to say why
            return on_the_step, str(app.query_one("#review-summary", Static).render())

    on_the_step, review = asyncio.run(drive())
    with pytest.raises(UserError) as caught:
        plan_from_request(_request(tmp_path, models["sdxl"], "sd1"))
    assert caught.value.message.split(";")[0] in review.replace("\n", "")
    assert "the family you gave is sd1 (SD1.x), but the model's header says sdxl" in on_the_step
    assert not (tmp_path / "wiz").exists()
