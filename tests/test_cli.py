"""The command line as a person uses it: real subprocesses, real files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import toml
from conftest import make_folder


def kohyawiz(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "kohyawiz", *args], capture_output=True, text=True, cwd=cwd)


def test_plan_from_a_dataset_folder(tmp_path):
    data = tmp_path / "train"
    make_folder(data, "10_hmbrgr", [(768, 768)] * 12 + [(512, 768)] * 8, "hmbrgr, food")
    (data / "raw").mkdir()
    out = tmp_path / "plan"
    run = kohyawiz(
        "plan", "--preset", "character-sd15", "--dataset", str(data), "--model", "/m/base.safetensors",
        "--vram", "12", "--set", "network_dim=16", "--out", str(out),
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    plan = json.loads((out / "plan.json").read_text())
    assert plan["figures"]["epochs"] == 10 and plan["figures"]["concepts"][0]["repeats"] == 10
    assert plan["figures"]["total_steps"] == 10 * 200 and plan["figures"]["exact"] is True
    config = toml.load(out / "config.toml")
    assert config["network"]["network_dim"] == 16
    subset = toml.load(out / "dataset.toml")["datasets"][0]["subsets"][0]
    assert subset["image_dir"] == str(data / "10_hmbrgr")
    assert "Wrote" in run.stdout


def test_plan_before_images_exist_and_explain(tmp_path):
    out = tmp_path / "p"
    run = kohyawiz(
        "plan", "--family", "sdxl", "--tags", "natural", "--subject", "clothing", "--vram", "24",
        "--concept", "char, red=40", "--concept", "char, blue=10", "--out", str(out),
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    explained = kohyawiz("explain", str(out))
    assert explained.returncode == 0
    text = explained.stdout
    assert "[M-BALANCE]" in text and "nearest(40 x 1 / 10) = 4" in text
    assert "sdxl_train_network.py" in text and "total steps:" in text


def test_presets_list_and_show():
    listed = kohyawiz("presets")
    assert listed.returncode == 0 and "character-sd15" in listed.stdout
    shown = kohyawiz("presets", "show", "low-vram")
    assert shown.returncode == 0 and "character-sd15.toml -> low-vram.toml" in shown.stdout


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["plan", "--family", "sd1", "--vram", "8", "--concept", "x=30"], "answers.subject is missing: pass --subject"),
        (["plan", "--subject", "style", "--vram", "8", "--concept", "x=30"], "answers.model.family is missing"),
        (["plan", "--preset", "nope"], "no preset file or shipped preset"),
        (["plan", "--family", "sd4"], "invalid choice"),
        (["plan", "--subject", "style", "--family", "sd1", "--vram", "8", "--concept", "x"], "NAME=COUNT"),
        (
            ["plan", "--subject", "style", "--family", "sd1", "--vram", "8", "--concept", "x=3", "--set", "foo=1"],
            "foo is not an argument",
        ),
        (
            ["plan", "--subject", "style", "--family", "sd1", "--vram", "8", "--dataset", "/nonexistent/x"],
            "is not a folder",
        ),
        (["explain", "/nonexistent"], "no plan.json"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_writes_nothing(tmp_path, args, fragment):
    out = tmp_path / "out"
    run = kohyawiz(*args, "--out", str(out)) if args[0] == "plan" else kohyawiz(*args)
    assert run.returncode == 2
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and fragment in lines[0], run.stderr
    assert "Traceback" not in run.stderr
    assert not out.exists()


def test_dataset_folder_errors_refuse_unless_forced(tmp_path):
    data = tmp_path / "train"
    make_folder(data, "1_good", [(512, 512)] * 20, "good")
    make_folder(data, "x_bad", [(512, 512)] * 2, "bad")
    base = ["plan", "--subject", "object", "--family", "sd1", "--vram", "8", "--dataset", str(data)]
    refused = kohyawiz(*base, "--out", str(tmp_path / "a"))
    assert refused.returncode == 2 and "D-FOLDER" in refused.stderr and "--force" in refused.stderr
    forced = kohyawiz(*base, "--force", "--out", str(tmp_path / "b"))
    assert forced.returncode == 0, forced.stderr
    assert "planned with --force" in json.dumps(json.loads((tmp_path / "b" / "plan.json").read_text())["findings"])


def test_demo_runs_without_gpu_or_model(tmp_path):
    run = kohyawiz("demo", "--out", str(tmp_path / "demo"))
    assert run.returncode == 0, run.stderr
    assert (tmp_path / "demo" / "plan" / "dataset.toml").is_file()
    assert "total steps" in run.stdout


def test_demo_train_without_sd_scripts_names_the_install_command(tmp_path):
    """Item 7's refusal: with no sd-scripts anywhere, or one without the demo's trainer, the demo
    plans as before and then says the one command that installs sd-scripts."""
    from kohyawiz.resources import package_dir

    if (package_dir().parent / "vendor" / "sd-scripts" / "train_network.py").is_file():
        pytest.skip("vendor/sd-scripts is checked out here: sd-scripts would be found")
    env = {k: v for k, v in os.environ.items() if k not in ("KOHYAWIZ_SD_SCRIPTS", "KOHYA_SS")}
    env |= {"HOME": str(tmp_path / "home"), "KOHYAWIZ_HOME": str(tmp_path / "kwhome")}
    demo = [sys.executable, "-m", "kohyawiz", "demo", "--train", "--out", str(tmp_path / "demo")]
    none = subprocess.run(demo, capture_output=True, text=True, env=env)
    assert none.returncode == 2 and "total steps" in none.stdout
    assert "install it with `kohyawiz sd-scripts install`" in none.stderr and "Traceback" not in none.stderr
    fake = Path(__file__).resolve().parent / "fake_sd"
    old = subprocess.run([*demo, "--sd-scripts", str(fake), "--python", sys.executable], capture_output=True, text=True, env=env)
    assert old.returncode == 2 and "has no anima_train_network.py: run `kohyawiz sd-scripts install`" in old.stderr
    assert not (tmp_path / "kwhome" / "random-models").exists()


def test_no_arguments_prints_help():
    run = kohyawiz()
    assert run.returncode == 0 and "plan" in run.stdout


def test_concepts_as_counts_are_refused_over_a_folder_that_holds_concepts(tmp_path, capsys):
    """--concept plans images that do not exist yet: over a folder with N_name folders it would plan empty
    1_name folders beside them and leave the real ones out, so it is refused in one line naming the folder."""
    from kohyawiz.cli import main

    (tmp_path / "data" / "10_mychar").mkdir(parents=True)
    code = main(["plan", "--subject", "character", "--family", "sd1", "--vram", "12", "--dataset", str(tmp_path / "data"),
                 "--concept", "x=20", "--out", str(tmp_path / "p")])  # fmt: skip
    err = capsys.readouterr().err
    assert code != 0 and "10_mychar" in err and str(tmp_path / "data") in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "p").exists()
    # a new folder for images to come is still planned from the counts
    assert main(["plan", "--subject", "character", "--family", "sd1", "--vram", "12", "--dataset", str(tmp_path / "new"),
                 "--concept", "x=20", "--out", str(tmp_path / "q")]) == 0  # fmt: skip
