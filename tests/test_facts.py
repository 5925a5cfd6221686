"""vendor/ carries the real parser facts, and the checks built on them catch what sd-scripts would not."""

from __future__ import annotations

import json
import sys

from conftest import REPO

from kohyawiz.facts import known_versions, load_interface, resolve_version

sys.path.insert(0, str(REPO / "tools"))
import vendor_facts


def test_vendor_facts_equal_a_fresh_conversion_of_the_manifests(shared):
    # main's facts come from the manifest of all seven of its trainers (trainers-main-*.json).
    manifests = [m for m in sorted((shared / "sd-scripts").glob("args-*.json")) if "main-" not in m.name]
    for manifest in [*manifests, *sorted((shared / "sd-scripts").glob("trainers-*.json"))]:
        fresh = vendor_facts.convert(json.loads(manifest.read_text()))
        committed = json.loads((REPO / "vendor" / "sd-scripts-facts" / f"{fresh['version']}.json").read_text())
        assert fresh == committed, manifest.name


def test_supported_versions():
    ids = {v.id for v in known_versions()}
    assert {"v0.8.7", "v0.9.1", "main-48d368fa"} <= ids
    assert resolve_version("48d368fa").id == "main-48d368fa" and resolve_version("main").id == "main-48d368fa"


def test_type_and_choice_checks_mirror_what_sd_scripts_needs():
    main = load_interface("main")
    script = "train_network.py"
    assert main.check_arg(script, "resolution", 512) is not None  # must be a string
    assert main.check_arg(script, "resolution", "512,512") is None
    assert main.check_arg(script, "network_args", "conv_dim=4") is not None  # must be a list
    assert main.check_arg(script, "network_multiplier_typo", 1) is not None
    assert main.check_arg(script, "mixed_precision", "fp32") is not None
    assert main.check_arg(script, "cache_latents", "false") is not None  # a string would be true
    assert (
        main.check_arg(script, "text_encoder_lr", 1e-4) is None
        and main.check_arg(script, "text_encoder_lr", [1e-4]) is None
    )
    assert main.check_arg(script, "noise_offset_type", "Original") is not None  # a GUI field only
    assert main.check_arg("sdxl_train_network.py", "cache_text_encoder_outputs", True) is None
    assert main.check_arg(script, "cache_text_encoder_outputs", True) is not None
    assert main.check_dataset_key("general", "network_multiplier", 1) is not None  # float, not int
    assert main.check_dataset_key("subset", "resolution", [512, 512]) is not None  # not a subset key


def test_dataset_routes_send_arguments_where_they_take_effect():
    routes = load_interface().dataset_routes
    assert routes["train_batch_size"].key == "batch_size" and routes["resolution"].level == "general"
    assert routes["flip_aug"].level == "general" and "learning_rate" not in routes


def test_main_facts_cover_every_lora_trainer_and_older_versions_only_theirs():
    from kohyawiz.families import trainer_scripts

    main = load_interface("main")
    assert set(trainer_scripts()) <= set(main.args)
    assert main.arg("flux_train_network.py", "model_type").choices == ("flux", "chroma")
    assert main.arg("hunyuan_image_train_network.py", "fp8_scaled") is not None
    old = load_interface("v0.9.1")
    assert not old.has_script("flux_train_network.py") and old.arg("flux_train_network.py", "t5xxl") is None
