"""The wizard, driven by pilot through every step: it writes exactly what `kohyawiz plan` writes."""

from __future__ import annotations

import asyncio
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from textual.widgets import Input, Static
from wizard_driver import fill, no_blink, settle

from kohyawiz.tui.app import STEPS, make_app

CASES = {
    "character": {
        "subject": "character", "family": "sd1", "tags": "booru", "concepts": ["mychar=30"], "vram": 12,
        "cli": ["--subject", "character", "--family", "sd1", "--tags", "booru", "--concept", "mychar=30", "--vram", "12"],
    },
    "multi-concept": {
        "subject": "several", "family": "sd1", "tags": "natural", "concepts": ["char, red=40", "char, blue=12"], "vram": 8,
        "cli": ["--subject", "character", "--family", "sd1", "--tags", "natural", "--concept", "char, red=40", "--concept", "char, blue=12", "--vram", "8"],
    },
    "style": {
        "subject": "style", "family": "sdxl", "tags": "natural", "concepts": ["brushy=120"], "vram": 24, "network": "glora", "samples": True,
        "cli": ["--subject", "style", "--family", "sdxl", "--tags", "natural", "--concept", "brushy=120", "--vram", "24", "--network", "glora", "--samples"],
    },
    "cluster": {
        "subject": "character", "family": "sdxl", "tags": "natural", "concepts": ["hero=40"], "vram": 80,
        "gpus": 8, "nodes": 2,
        "cli": ["--subject", "character", "--family", "sdxl", "--tags", "natural", "--concept", "hero=40", "--vram", "80",
                "--gpus", "8", "--nodes", "2"],
    },
}  # fmt: skip
COMMON_CLI: list[str] = []


def read_all(folder: Path) -> dict[str, str]:
    return {p.name: p.read_text() for p in sorted(folder.iterdir()) if p.is_file()}


@pytest.mark.parametrize("case", sorted(CASES))
def test_wizard_writes_what_plan_writes(tmp_path, case):
    answers = CASES[case]
    out = tmp_path / "plan"
    cli = subprocess.run(
        [sys.executable, "-m", "kohyawiz", "plan", *answers["cli"], *COMMON_CLI, "--out", str(out)],
        capture_output=True,
        text=True,
    )
    assert cli.returncode == 0, cli.stderr
    expected = read_all(out)
    shutil.rmtree(out)

    async def drive() -> None:
        app = make_app(out_dir=str(out))
        async with app.run_test(size=(80, 24)) as pilot:
            await fill(pilot, answers)
            assert STEPS[app.step] == "review"
            assert "total steps" in str(app.query_one("#review-figures", Static).render())
            await pilot.press("ctrl+n")
            await settle(pilot)
            await pilot.click("#write-plan")
            await settle(pilot)
            assert "Wrote" in str(app.query_one("#write-result", Static).render())

    asyncio.run(drive())
    assert read_all(out) == expected


def test_back_and_forward_keep_answers_and_bad_input_is_said(tmp_path):
    async def drive() -> None:
        app = make_app(out_dir=str(tmp_path / "p"))
        async with app.run_test(size=(80, 24)) as pilot:
            await fill(pilot, CASES["character"])
            for _ in range(5):
                await pilot.press("ctrl+p")
                await settle(pilot)
            assert STEPS[app.step] == "subject"
            await pilot.press("ctrl+n", "ctrl+n")
            await settle(pilot)
            assert app.query_one("#concepts", Input).value == "mychar=30"
            await pilot.press("ctrl+n")
            await settle(pilot)
            app.query_one("#vram", Input).value = "lots"
            await pilot.press("ctrl+n")
            await settle(pilot)
            assert STEPS[app.step] == "hardware" and "must be a number" in str(app.query_one("#error", Static).render())

    asyncio.run(drive())


def test_review_override_is_checked_on_the_spot(tmp_path):
    async def drive() -> None:
        app = make_app(out_dir=str(tmp_path / "p"))
        async with app.run_test(size=(80, 24)) as pilot:
            await fill(pilot, CASES["character"])
            await pilot.press("2")  # the settings tab
            await settle(pilot)
            app.query_one("#override", Input).value = "network_dimm=8"
            await pilot.click("#override-set")
            await settle(pilot)
            assert "did you mean network_dim" in str(app.query_one("#error", Static).render())
            app.query_one("#override", Input).value = "network_dim=8"
            await pilot.click("#override-set")
            await settle(pilot)
            assert app.state.overrides == {"network_dim": "8"}
            assert app.plan.value("network_dim") == 8

    asyncio.run(drive())


def test_answers_file_prefills(tmp_path):
    preset = tmp_path / "p.toml"
    preset.write_text(
        'schema_version = 1\n[answers]\nsubject = "style"\nvram_gb = 10\n[answers.model]\nfamily = "sdxl"\n[[answers.concepts]]\nname = "brushy"\nimages = 100\n'
    )
    app = make_app(str(preset))
    assert app.state.subject == "style" and app.state.family == "sdxl" and app.state.vram_gb == 10
    assert app.state.concept_counts == "brushy=100"


def test_train_step_runs_the_test_double_and_stops_cleanly(tmp_path, monkeypatch):
    shared_logs = Path(__file__).resolve().parent / "data" / "sd-scripts-logs"
    from conftest import make_folder

    monkeypatch.setenv("KOHYAWIZ_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("KOHYAWIZ_FAKE_LOG", str(shared_logs / "lora-prodigy-sd1.log"))
    monkeypatch.setenv("KOHYAWIZ_FAKE_DELAY", "0.02")
    data = tmp_path / "train"
    make_folder(data, "1_mychar", [(768, 768)] * 20, "mychar, smile")
    model = tmp_path / "model.safetensors"
    model.write_bytes(b"x")
    fake = Path(__file__).resolve().parent / "fake_sd"

    async def drive() -> None:
        app = make_app(out_dir=str(tmp_path / "p"), sd_scripts=str(fake), python=sys.executable)
        async with app.run_test(size=(80, 24)) as pilot:
            answers = dict(CASES["character"], concepts=[], model=str(model), dataset=str(data))
            await fill(pilot, answers)
            await pilot.press("ctrl+n")
            await settle(pilot)
            await pilot.click("#write-plan")
            await settle(pilot)
            await pilot.press("ctrl+n")
            await settle(pilot)
            await pilot.click("#train-start")
            assert str(app.query_one("#error", Static).render()) == ""
            from kohyawiz.tui.steps.train import TrainStep

            train_step = app.query_one(TrainStep)
            drawn = re.compile(r"epoch \d+  step [1-9]\d*/\d+  loss [0-9.e+-]+  [0-9.]+ it/s  \S+")
            for _ in range(200):
                await asyncio.sleep(0.05)
                if drawn.match(str(app.query_one("#train-stats", Static).render())):
                    break
            stats = str(app.query_one("#train-stats", Static).render())
            assert drawn.match(stats), stats
            # the line is drawn from the run's own watcher: the step keeps no losses or saves of its own
            assert not hasattr(train_step, "losses") and not hasattr(train_step, "saves")
            await pilot.press("ctrl+s")
            await app.workers.wait_for_complete()
            await pilot.pause()
            assert "interrupted" in str(app.query_one("#train-status", Static).render())

    asyncio.run(drive())


def test_dataset_step_prepares_raw_images(tmp_path):
    from conftest import make_folder

    raw = make_folder(tmp_path, "raw", [(640, 640)] * 3, "mychar, smile")
    before = {p.name: p.read_bytes() for p in raw.iterdir()}

    async def drive() -> None:
        app = make_app(out_dir=str(tmp_path / "p"))
        async with app.run_test(size=(80, 24)) as pilot:
            no_blink(app)
            await pilot.press("ctrl+n", "ctrl+n")
            await settle(pilot)
            app.query_one("#dataset-dir", Input).value = str(tmp_path / "train")
            app.query_one("#prepare-raw", Input).value = str(raw)
            app.query_one("#prepare-into", Input).value = "1_mychar"
            app.query_one("#prepare").press()
            await settle(pilot)
            assert (
                "Prepared 3 images" in str(app.query_one("#dataset-found", Static).render())
                or app.query_one("#concept-table").row_count == 1
            )

    asyncio.run(drive())
    assert len(list((tmp_path / "train" / "1_mychar").glob("*.png"))) == 3
    assert {p.name: p.read_bytes() for p in raw.iterdir()} == before
