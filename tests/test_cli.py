"""The command line as a person uses it: real subprocesses, real files."""

from __future__ import annotations

import json
import subprocess
import sys

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


def test_no_arguments_prints_help():
    run = kohyawiz()
    assert run.returncode == 0 and "plan" in run.stdout
