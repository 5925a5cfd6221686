"""Any sd-scripts version, learned from the checkout itself (`kohyawiz sd-scripts learn`)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO, plan_for

from kohyawiz.errors import UserError

TRAIN_NETWORK = '''
import argparse


def setup_parser():
    parser = argparse.ArgumentParser()
    for name, kind in (("pretrained_model_name_or_path", str), ("output_dir", str), ("output_name", str),
                       ("network_module", str), ("optimizer_type", str), ("lr_scheduler", str),
                       ("mixed_precision", str), ("save_precision", str), ("save_model_as", str),
                       ("caption_extension", str), ("resolution", str), ("logging_dir", str)):
        parser.add_argument("--" + name, type=kind, default=None)
    for name in ("network_dim", "max_train_epochs", "max_train_steps", "save_every_n_epochs", "train_batch_size",
                 "max_data_loader_n_workers", "clip_skip", "min_bucket_reso", "max_bucket_reso",
                 "bucket_reso_steps", "only_in_this_tree"):
        parser.add_argument("--" + name, type=int, default=None)
    for name in ("network_alpha", "learning_rate", "min_snr_gamma"):
        parser.add_argument("--" + name, type=float, default=None)
    for name in ("cache_latents", "enable_bucket", "flip_aug", "sdpa", "persistent_data_loader_workers"):
        parser.add_argument("--" + name, action="store_true")
    parser.add_argument("--optimizer_args", type=str, nargs="*", default=None)
    parser.add_argument("--network_args", type=str, nargs="*", default=None)
    return parser


# verify_bucket_reso_steps(64)
'''
CONFIG_UTIL = '''
class ConfigSanitizer:
    DATASET_ASCENDABLE_SCHEMA = {"resolution": int, "batch_size": int, "enable_bucket": bool,
                                 "min_bucket_reso": int, "max_bucket_reso": int, "bucket_reso_steps": int}
    SUBSET_ASCENDABLE_SCHEMA = {"num_repeats": int, "caption_extension": str, "flip_aug": bool, "class_tokens": str}
    DB_SUBSET_DISTINCT_SCHEMA = {"image_dir": str}
    ARGPARSE_SPECIFIC_SCHEMA = {}
'''


@pytest.fixture
def checkout(tmp_path, monkeypatch):
    """An sd-scripts-shaped tree without git metadata: its parser has an argument no shipped
    version has, and lacks many they have."""
    monkeypatch.setenv("KOHYAWIZ_HOME", str(tmp_path / "home"))
    root = tmp_path / "sd-scripts-copy"
    (root / "library").mkdir(parents=True)
    (root / "train_network.py").write_text(TRAIN_NETWORK)
    (root / "library" / "__init__.py").write_text("")
    (root / "library" / "config_util.py").write_text(CONFIG_UTIL)
    (root / "library" / "train_util.py").write_text('IMAGE_EXTENSIONS = [".png", ".jpg"]\n')
    return root


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kohyawiz", *args], capture_output=True, text=True, env=os.environ)


def test_learn_a_checkout_without_git_and_plan_for_its_interface(checkout, tmp_path):
    learned = cli("sd-scripts", "learn", str(checkout), "--python", sys.executable)
    assert learned.returncode == 0, learned.stderr
    assert "learned-tree-" in learned.stdout and "learned now" in learned.stdout
    again = cli("sd-scripts", "learn", str(checkout), "--python", sys.executable)
    assert "already known" in again.stdout
    base = ["plan", "--sd-scripts", str(checkout), "--python", sys.executable, "--family", "sd1",
            "--subject", "character", "--vram", "12", "--concept", "a=30"]  # fmt: skip
    accepted = cli(*base, "--set", "only_in_this_tree=3", "--out", str(tmp_path / "a"))
    assert accepted.returncode == 0, accepted.stderr
    assert "only_in_this_tree = 3" in (tmp_path / "a" / "config.toml").read_text()
    refused = cli(*base, "--set", "debiased_estimation_loss=true", "--out", str(tmp_path / "b"))
    assert refused.returncode == 2 and "not an argument of train_network.py in sd-scripts learned-" in refused.stderr
    shipped = cli("plan", *base[5:], "--set", "only_in_this_tree=3", "--out", str(tmp_path / "c"))
    assert shipped.returncode == 2  # the shipped facts do not know it
    plan = json.loads((tmp_path / "a" / "plan.json").read_text())
    assert plan["sd_scripts_version"].startswith("learned-tree-")
    left_out = {d["key"] for d in plan["decisions"] if "left out: sd-scripts" in d["reason"]}
    assert "debiased_estimation_loss" in left_out  # a rule's argument the checkout lacks is left out, said


def test_a_changed_tree_is_learned_anew(checkout):
    from kohyawiz.learned import tree_key

    before = tree_key(checkout, None)
    (checkout / "train_network.py").write_text(TRAIN_NETWORK.replace("only_in_this_tree", "renamed_here"))
    assert tree_key(checkout, None) != before
    assert tree_key(checkout, "0123456789abcdef") == "0123456789ab"


def test_learn_without_the_environment_says_one_line(checkout, tmp_path):
    broken = tmp_path / "python"
    broken.write_text("#!/bin/sh\necho 'ModuleNotFoundError: No module named torch' >&2\nexit 1\n")
    broken.chmod(0o755)
    run = cli("sd-scripts", "learn", str(checkout), "--python", str(broken))
    assert run.returncode == 2 and "--python" in run.stderr and "Traceback" not in run.stderr
    with pytest.raises(UserError):
        from kohyawiz.run.sdscripts.learn import learn
        from kohyawiz.run.sdscripts.locate import find_sd_scripts

        learn(find_sd_scripts(str(checkout), str(broken)))


@pytest.mark.sdscripts
@pytest.mark.skipif(
    not (os.environ.get("KOHYAWIZ_SD_SCRIPTS") and os.environ.get("KOHYAWIZ_SD_PYTHON")),
    reason="set KOHYAWIZ_SD_SCRIPTS, KOHYAWIZ_SD_PYTHON",
)
def test_learning_the_real_checkout_gives_the_vendored_facts(tmp_path, monkeypatch):
    monkeypatch.setenv("KOHYAWIZ_HOME", str(tmp_path / "home"))
    from kohyawiz.run.sdscripts.learn import learn
    from kohyawiz.run.sdscripts.locate import find_sd_scripts

    sd = find_sd_scripts(os.environ["KOHYAWIZ_SD_SCRIPTS"], os.environ["KOHYAWIZ_SD_PYTHON"])
    learned = json.loads(learn(sd, again=True).path.read_text())
    vendored = json.loads((REPO / "vendor" / "sd-scripts-facts" / f"{sd.version.id}.json").read_text())
    assert learned["scripts"] == vendored["scripts"]
    for level in ("general", "dataset", "subset", "subset_required"):
        assert learned["dataset_config"][level] == vendored["dataset_config"][level], level
    assert plan_for(tmp_path, sd_scripts_version=learned["version"]).figures.total_steps > 0
    _ = Path


@pytest.mark.sdscripts
@pytest.mark.skipif(
    not (os.environ.get("KOHYAWIZ_SD_CHECKOUTS") and os.environ.get("KOHYAWIZ_SD_PYTHON")),
    reason="set KOHYAWIZ_SD_CHECKOUTS (VERSION=DIR,...) and KOHYAWIZ_SD_PYTHON",
)
def test_learning_each_known_version_gives_its_vendored_facts(tmp_path, monkeypatch):
    """Opt-in: checkouts of the shipped versions (with or without git metadata), learned in
    sd-scripts' environment, equal vendor/ exactly, bucket step divisor included."""
    monkeypatch.setenv("KOHYAWIZ_HOME", str(tmp_path / "home"))
    from kohyawiz.facts import resolve_version
    from kohyawiz.run.sdscripts.learn import learn
    from kohyawiz.run.sdscripts.locate import find_sd_scripts

    for entry in os.environ["KOHYAWIZ_SD_CHECKOUTS"].split(","):
        version, _, folder = entry.partition("=")
        sd = find_sd_scripts(folder, os.environ["KOHYAWIZ_SD_PYTHON"])
        learned = json.loads(learn(sd, again=True).path.read_text())
        vendored = json.loads((REPO / "vendor" / "sd-scripts-facts" / f"{version}.json").read_text())
        assert learned["scripts"] == vendored["scripts"], version
        for level in ("general", "dataset", "subset", "subset_required"):
            assert learned["dataset_config"][level] == vendored["dataset_config"][level], (version, level)
        divisor = learned["learned"]["bucket_reso_steps_divisor"]
        assert divisor == resolve_version(version).bucket_reso_steps_divisor, version
