"""K-CHECK: the files Kohya users bring, checked key by key against the target sd-scripts."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import toml

from kohyawiz.errors import UserError
from kohyawiz.facts import load_interface
from kohyawiz.interop.config_check import check_config_file, check_dataset_config, guess_script

INTERFACE = load_interface(None)
PLANTED_DATASETS = [
    ({"general": {"caption_extention": ".txt"}}, "did you mean caption_extension"),
    ({"general": {"flip_aug": "yes"}}, "takes a bool"),
    ({"generl": {}}, "did you mean general"),
    ({"datasets": [{"subsets": [{"image_dir": "/x", "num_repeat": 3}]}]}, "did you mean num_repeats"),
    ({"datasets": [{"subsets": [{"image_dir": "/x", "resolution": 512}]}]}, "belongs in [general] or [[datasets]]"),
    ({"datasets": [{"subsets": [{"num_repeats": 3}]}]}, "image_dir is required"),
    ({"datasets": [{"network_multiplier": 1, "subsets": [{"image_dir": "/x"}]}]}, "takes a float"),
]


def kohyawiz(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kohyawiz", *args], capture_output=True, text=True)


@pytest.mark.parametrize("data,said", PLANTED_DATASETS)
def test_K_CHECK_dataset_config_per_level(data, said):
    findings = check_dataset_config(INTERFACE, data)
    assert findings and all(f.level == "error" and f.rule == "K-CHECK" for f in findings)
    assert any(said in f.message for f in findings), [f.message for f in findings]


def test_K_CHECK_clean_dataset_config_passes():
    good = {"general": {"caption_extension": ".txt", "resolution": [768, 768], "enable_bucket": True},
            "datasets": [{"batch_size": 1, "subsets": [{"image_dir": "/x", "num_repeats": 3}]}]}  # fmt: skip
    assert check_dataset_config(INTERFACE, good) == []


def test_K_CHECK_config_file_unknown_is_warned_mistyped_is_an_error():
    data = {"training": {"netowrk_dim": 16, "cache_latents": "false", "learning_rate": 1e-4}}
    findings = {f.message.split()[0]: f for f in check_config_file(INTERFACE, "train_network.py", data)}
    assert findings["netowrk_dim"].level == "warn" and "did you mean network_dim" in findings["netowrk_dim"].message
    assert findings["cache_latents"].level == "error"
    assert "learning_rate" not in findings
    assert guess_script(INTERFACE, {"cache_text_encoder_outputs": True}) == "sdxl_train_network.py"
    assert guess_script(INTERFACE, {"t5xxl": "t.safetensors", "ae": "ae.safetensors"}) == "flux_train_network.py"
    assert guess_script(INTERFACE, {"gemma2": "g.safetensors"}) == "lumina_train_network.py"
    assert guess_script(INTERFACE, {"network_dim": 8}) == "train_network.py"


def test_K_CHECK_on_the_command_line(tmp_path):
    dataset = tmp_path / "dataset.toml"
    dataset.write_text(toml.dumps({"general": {"shuffle_captions": True}}))
    run = kohyawiz("check", str(dataset))
    assert run.returncode == 1 and "did you mean shuffle_caption" in run.stdout and "Traceback" not in run.stderr
    config = tmp_path / "config.toml"
    config.write_text('[model]\npretrained_model_name_or_path = "/m"\n[x]\nmax_train_epoch = 3\n')
    warned = kohyawiz("check", str(config))
    assert warned.returncode == 0 and "did you mean max_train_epochs" in warned.stdout
    config.write_text('max_train_epochs = "3"\n')
    assert kohyawiz("check", str(config), "--json").returncode == 1
    assert json.loads(kohyawiz("check", str(config), "--json").stdout)[0]["rule"] == "K-CHECK"


def test_import_refuses_kohya_ss_fine_tune_presets(tmp_path):
    from kohyawiz.interop.kohya import detect_kind

    finetune = {"pretrained_model_name_or_path": "/m", "learning_rate": 1e-5, "dataset_repeats": "40",
                "use_latent_files": "Yes", "create_buckets": True, "train_text_encoder": True}  # fmt: skip
    with pytest.raises(UserError, match="fine-tune preset"):
        detect_kind(finetune)
    path = tmp_path / "finetune.json"
    path.write_text(json.dumps(finetune))
    run = kohyawiz("import", str(path))
    assert run.returncode == 2 and "fine-tune" in run.stderr and "Traceback" not in run.stderr


def test_sd_scripts_own_sanitizer_agrees(sanitizer_class):
    """Opt-in: what K-CHECK calls an error in a dataset config, sd-scripts' ConfigSanitizer refuses."""
    import voluptuous

    sanitizer = sanitizer_class(True, True, False, True)
    for data, _ in PLANTED_DATASETS[:5] + PLANTED_DATASETS[6:]:
        with pytest.raises((voluptuous.Invalid, voluptuous.MultipleInvalid, ValueError)):
            sanitizer.sanitize_user_config(data)
