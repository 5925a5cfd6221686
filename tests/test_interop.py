"""kohya_ss GUI JSON and sd-scripts TOML in, GUI JSON out, and diffs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import plan_for
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kohyawiz.emit import render
from kohyawiz.errors import UserError
from kohyawiz.interop.export import gui_config
from kohyawiz.interop.kohya import dataset_answers, import_settings, read_config

DATA = Path(__file__).resolve().parent / "data" / "kohya"


def imported(name: str, dataset: str | None = None):
    flat, data = read_config(DATA / name, DATA / dataset if dataset else None)
    result = import_settings(flat, name)
    if data is not None:
        dataset_answers(data, result)
    return result


def statuses(result) -> dict[str, str]:
    return {row.key: row.status for row in result.report}


def test_old_gui_save_with_legacy_keys():
    result = imported("gui_old.json")
    assert result.answers["network"] == "locon" and result.answers["optimizer"] == "adamw8bit"
    assert result.answers["attention"] == "xformers"
    o = result.overrides
    assert o["network_dim"] == 32 and o["network_alpha"] == 16.0 and o["learning_rate"] == 1e-4
    assert o["max_train_epochs"] == 10, "the GUI's epoch becomes max_train_epochs"
    assert o["lr_warmup_steps"] == 0.1 and o["resolution"] == "768,768" and o["train_batch_size"] == 2
    assert result.answers["network_options"] == {"conv_dim": 8, "conv_alpha": 1}
    assert result.model_path.endswith("anything-v4.5.safetensors") and result.train_data_dir == "C:/train/img"
    s = statuses(result)
    assert s["save_as_bool"] == "ignored" and s["model_list"] == "ignored" and "not understood" not in s.values()


def test_new_gui_sdxl_loha_with_zsnr_in_additional_parameters():
    result = imported("gui_new_sdxl_loha.json")
    model = result.answers["model"]
    assert model == {"family": "sdxl", "vpred": True, "zsnr": True}
    assert result.answers["network"] == "loha" and result.answers["gpus"] == 2
    assert result.answers["attention"] == "sdpa" and result.answers["samples"] is True
    assert result.answers["with_other_loras"] is True
    assert result.overrides["max_grad_norm"] == 0.5 and result.overrides["noise_offset"] == 0.0357
    assert "multires_noise_iterations" not in result.overrides, "Original noise type drops multires"
    assert "preset" not in result.answers.get("network_options", {}), "preset=full is replaced on purpose"
    assert not any(k.startswith("decompose_both") for k in result.answers.get("network_options", {}))


def test_partial_preset_and_sd_scripts_toml_with_dataset():
    partial = imported("gui_partial_ia3.json")
    assert partial.answers["network"] == "ia3" and partial.overrides["learning_rate"] == 0.005
    toml_result = imported("config_lora-20240101-120000.toml")
    s = statuses(toml_result)
    assert s["epoch"] == "mapped" and toml_result.overrides["max_train_epochs"] == 8
    assert s["lowvram"] == "ignored" and s["noise_offset_type"] == "ignored"
    assert toml_result.answers["network"] == "lora" and toml_result.answers["network_options"] == {
        "conv_dim": 16,
        "conv_alpha": 1,
    }
    assert (
        toml_result.answers["attention"] == "sdpa"
        if "attention" in toml_result.answers
        else toml_result.overrides["sdpa"]
    )
    with_dataset = imported("config_lora-20240101-120000.toml", "dataset.toml")
    assert with_dataset.answers["concepts"] == [
        {"name": "hmbrgr", "repeats": 10},
        {"name": "hmbrgr, cheese", "repeats": 3},
    ]
    assert with_dataset.overrides["flip_aug"] is True and with_dataset.overrides["resolution"] == "768,768"


@pytest.mark.parametrize(
    ("name", "fragment"), [("dreambooth.json", "DreamBooth"), ("textual_inversion.json", "Textual Inversion")]
)
def test_other_training_kinds_are_refused(name, fragment):
    with pytest.raises(UserError, match=fragment):
        imported(name)


def test_import_cli_writes_a_preset_that_plans(tmp_path):
    preset = tmp_path / "mine.toml"
    run = subprocess.run(
        [sys.executable, "-m", "kohyawiz", "import", str(DATA / "gui_old.json"), "--out", str(preset)],
        capture_output=True, text=True,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert "0 not understood" in run.stdout and "--model C:/models/anything-v4.5.safetensors" in run.stdout
    plan = subprocess.run(
        [sys.executable, "-m", "kohyawiz", "plan", "--preset", str(preset), "--vram", "12", "--concept", "mychar=30", "--out", str(tmp_path / "p")],
        capture_output=True, text=True,
    )  # fmt: skip
    assert plan.returncode == 0, plan.stderr
    data = json.loads((tmp_path / "p" / "plan.json").read_text())
    values = {d["key"]: d["value"] for d in data["decisions"]}
    assert values["network_dim"] == 32 and values["max_train_epochs"] == 10 and values["clip_skip"] == 2


def test_round_trip_export_then_import_gives_the_same_settings(tmp_path):
    for network in ("lora", "locon", "loha", "lokr", "dylora", "ia3"):
        original = plan_for(tmp_path, network=network, with_other_loras=True, overrides={"network_dim": "16"})
        gui = gui_config(original)
        back = import_settings(json.loads(json.dumps(gui)), "export.json")
        answers = {**back.answers, "vram_gb": 12, "concepts": [{"name": "hmbrgr", "images": 30}]}
        answers["model"] = {**answers["model"], "path": "/models/base.safetensors"}
        again = plan_for(
            tmp_path, **{k: v for k, v in answers.items() if k not in ("overrides",)}, preset_overrides=back.overrides
        )
        first, second = render(original), render(again)
        strip = lambda text: [line.split("  #")[0] for line in text.splitlines() if not line.startswith("#")]  # noqa: E731
        assert strip(first["config.toml"]) == strip(second["config.toml"]), network
        assert strip(first["dataset.toml"]) == strip(second["dataset.toml"]), network


def test_export_cli_and_diff(tmp_path):
    out = tmp_path / "p"
    subprocess.run(
        [sys.executable, "-m", "kohyawiz", "plan", "--family", "sd1", "--subject", "character", "--vram", "12", "--concept", "x=30", "--out", str(out)],
        check=True, capture_output=True,
    )  # fmt: skip
    run = subprocess.run(
        [sys.executable, "-m", "kohyawiz", "export", str(out), "--kohya-gui"], capture_output=True, text=True
    )
    assert run.returncode == 0, run.stderr
    gui = json.loads((out / "kohya_gui.json").read_text())
    assert gui["LoRA_type"] == "Standard" and gui["dataset_config"] == str(out / "dataset.toml")
    assert gui["optimizer"] == "Prodigy" and gui["max_resolution"] == "768,768" and gui["epoch"] == 100
    diff = subprocess.run(
        [sys.executable, "-m", "kohyawiz", "diff", str(DATA / "gui_old.json")], capture_output=True, text=True
    )
    assert diff.returncode == 0, diff.stderr
    assert "max_train_epochs: 10 -> 100   [T-PASSES]" in diff.stdout and "clip_skip" not in diff.stdout
    assert "train_batch_size: 2 -> 1   [T-BATCH]" in diff.stdout
    both = subprocess.run(
        [sys.executable, "-m", "kohyawiz", "diff", str(out), str(DATA / "gui_partial_ia3.json")],
        capture_output=True,
        text=True,
    )
    assert both.returncode == 0 and "different" in both.stdout


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-10, 10**6) | st.floats(allow_nan=True) | st.text(max_size=12),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3),
    max_leaves=8,
)
known_keys = st.sampled_from(
    ["LoRA_type", "network_dim", "network_alpha", "learning_rate", "optimizer", "max_resolution", "epoch", "xformers",
     "additional_parameters", "conv_dim", "use_cp", "mixed_precision", "v2", "sdxl", "clip_skip", "network_args",
     "network_module", "optimizer_args", "lr_warmup", "train_batch_size", "resolution", "output_name", "junk"]
)  # fmt: skip


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(known_keys | st.text(max_size=10), json_values, max_size=12))
def test_any_json_gives_a_preset_or_one_clear_error(data):
    try:
        result = import_settings(data, "random.json")
    except UserError as exc:
        assert "\n" not in str(exc)
        return
    from kohyawiz.cli.interop_cmd import imported_preset

    text = imported_preset(result, "random.json")
    import tomllib

    assert tomllib.loads(text)["schema_version"] == 1


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=200))
def test_any_toml_text_gives_a_preset_or_one_clear_error(tmp_path_factory, text):
    path = Path(tmp_path_factory.mktemp("t")) / "config.toml"
    path.write_text(text, encoding="utf-8")
    try:
        flat, _ = read_config(path)
        import_settings(flat, str(path))
    except UserError as exc:
        assert "\n" not in str(exc).strip()


@pytest.mark.skipif(not os.environ.get("KOHYAWIZ_KOHYA_SS"), reason="set KOHYAWIZ_KOHYA_SS to a kohya_ss checkout")
def test_real_kohya_ss_configs_import_with_nothing_unmapped():
    root = Path(os.environ["KOHYAWIZ_KOHYA_SS"])
    files = sorted((root / "presets" / "lora").glob("*.json")) + sorted((root / "test" / "config").glob("*.json"))
    imported_count = 0
    for path in files:
        try:
            flat, _ = read_config(path)
            result = import_settings(flat, str(path))
        except UserError as exc:
            assert any(w in str(exc) for w in ("DreamBooth", "Textual Inversion", "Flux1", "not a kohya_ss")), (
                path,
                exc,
            )
            continue
        imported_count += 1
        assert [r for r in result.report if r.status == "not understood"] == [], path
    assert imported_count >= 10
    finetune = sorted((root / "presets" / "finetune").rglob("*.json"))
    assert finetune
    for path in finetune:
        flat, _ = read_config(path)
        with pytest.raises(UserError, match="fine-tun"):
            import_settings(flat, str(path))


def test_traps_are_explained():
    result = imported("config_lora-20240101-120000.toml")
    notes = {row.key: row.note for row in result.report}
    assert "1600 steps" in notes["max_train_steps"] and "max_train_steps" not in result.overrides
    old = imported("gui_old.json")
    assert "max_train_epochs" in old.overrides
    empty = import_settings({"LoRA_type": "Standard", "caption_extension": "", "network_dim": 8}, "x.json")
    assert ".caption" in {r.key: r.note for r in empty.report}["caption_extension"]
    assert "caption_extension" not in empty.overrides
