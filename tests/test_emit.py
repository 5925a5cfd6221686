"""Emitted files load the way sd-scripts loads them and hold only keys it knows."""

from __future__ import annotations

import itertools
import json
import tomllib

import pytest
import toml
from conftest import plan_for

from kohyawiz import emit
from kohyawiz.facts import known_versions, load_interface


def sd_scripts_flatten(text: str) -> dict:
    """What sd-scripts' read_config_from_file does: toml.load, then lift each table one level."""
    loaded = toml.loads(text)
    flat = {}
    for key, value in loaded.items():
        if isinstance(value, dict):
            for inner, item in value.items():
                assert inner not in flat, f"{inner} appears in two sections"
                flat[inner] = item
        else:
            flat[key] = value
    return flat


def check_dataset_config(interface, data: dict) -> None:
    """The dataset config against the version's schema, level by level, as its sanitizer does."""
    assert set(data) <= {"general", "datasets"}
    for key, value in data["general"].items():
        assert interface.check_dataset_key("general", key, value) is None
    for dataset in data["datasets"]:
        for key, value in dataset.items():
            if key != "subsets":
                assert interface.check_dataset_key("dataset", key, value) is None
        for subset in dataset["subsets"]:
            for required in interface.subset_required:
                assert required in subset
            for key, value in subset.items():
                assert interface.check_dataset_key("subset", key, value) is None


SUBJECTS = ["character", "concept", "object", "clothing", "style"]
FAMILIES = [("sd1", False), ("sd2", True), ("sdxl", False)]
TAGS = ["natural", "booru", "e6"]
NETWORKS = ["lora", "locon", "loha", "lokr", "dylora", "glora", "ia3", "diag-oft", "boft", "full"]
OPTIMIZERS = ["prodigy", "dadaptadam", "adamw", "adamw8bit"]
VRAM = [6, 12, 24]


def matrix():
    """Every value of every answer appears, crossed with every family and version."""
    rows = []
    for i, (subject, network, optimizer) in enumerate(
        itertools.zip_longest(SUBJECTS, NETWORKS, OPTIMIZERS, fillvalue=None)
    ):
        for (family, vpred), version in itertools.product(FAMILIES, [v.id for v in known_versions()]):
            rows.append(
                dict(
                    subject=subject or SUBJECTS[i % len(SUBJECTS)],
                    network=network or "lora",
                    optimizer=optimizer or OPTIMIZERS[i % len(OPTIMIZERS)],
                    family=family,
                    vpred=vpred,
                    tags=TAGS[i % 3],
                    # native fine-tuning needs a big card; SDXL sampling needs its text encoders on the card
                    # too, more than 6 GB (K-VRAM's sampling phase): 8 GB is its doc's smallest tier
                    vram=80 if network == "full" else max(VRAM[i % 3], 8 if family == "sdxl" else 0),
                    version=version,
                    multi=i % 2 == 1,
                )
            )
    return rows


@pytest.mark.parametrize("row", matrix(), ids=lambda r: "-".join(str(v) for v in r.values()))
def test_matrix_emits_files_sd_scripts_accepts(tmp_path, row):
    concepts = [{"name": "a, one", "images": 30}] + ([{"name": "a, two", "images": 12}] if row["multi"] else [])
    plan = plan_for(
        tmp_path,
        subject=row["subject"], network=row["network"], optimizer=row["optimizer"], vram_gb=row["vram"],
        model={"family": row["family"], "vpred": row["vpred"], "tags": row["tags"], "zsnr": row["vpred"]},
        concepts=concepts, samples=True, sd_scripts_version=row["version"],
    )  # fmt: skip
    interface = load_interface(row["version"])
    files = emit.render(plan)
    config = sd_scripts_flatten(files["config.toml"])
    # Every argument the plan decided, with its value, as sd-scripts' old toml reads it, and the same
    # for a modern parser.
    assert config == {d.key: list(d.value) if isinstance(d.value, tuple) else d.value for d in plan.config_args()}
    assert {k: v for t in tomllib.loads(files["config.toml"]).values() for k, v in t.items()} == config
    for key, value in config.items():
        assert interface.check_arg(plan.script, key, value) is None, (key, value)
    assert "max_train_epochs" in config
    assert isinstance(config.get("optimizer_args", []), list)
    if row["network"] == "lora":
        assert "network_args" not in config  # plain LoRA takes sd-scripts' own module with no options
    else:
        assert config["network_args"] and all("=" in a for a in config["network_args"])
    dataset = toml.loads(files["dataset.toml"])
    check_dataset_config(interface, dataset)
    assert not set(config) & set(interface.dataset_routes), "dataset keys belong in dataset.toml"
    subsets = dataset["datasets"][0]["subsets"]
    assert [s["num_repeats"] for s in subsets] == [c.repeats for c in plan.concepts]
    assert all(s["image_dir"].startswith("/") for s in subsets)
    assert dataset["general"]["caption_extension"] == ".txt"


def test_shapes_sd_scripts_needs(tmp_path):
    plan = plan_for(tmp_path, network="locon", overrides={"face_crop_aug_range": "2.0,4.0"})
    files = emit.render(plan)
    config = sd_scripts_flatten(files["config.toml"])
    dataset = toml.loads(files["dataset.toml"])
    assert dataset["general"]["resolution"] == [768, 768]
    assert dataset["general"]["face_crop_aug_range"] == [2.0, 4.0]
    assert all(isinstance(a, str) and "=" in a for a in config["network_args"])
    assert isinstance(config["learning_rate"], float) and isinstance(config["network_alpha"], float)
    assert isinstance(config["min_snr_gamma"], float)


def test_dataset_overrides_land_in_dataset_toml(tmp_path):
    plan = plan_for(
        tmp_path,
        overrides={"resolution": "512,640", "flip_aug": "false", "train_batch_size": "2", "shuffle_caption": "true"},
    )
    files = emit.render(plan)
    general = toml.loads(files["dataset.toml"])["general"]
    assert general["resolution"] == [512, 640] and general["flip_aug"] is False and general["batch_size"] == 2
    assert general["shuffle_caption"] is True
    config = sd_scripts_flatten(files["config.toml"])
    assert "resolution" not in config and "flip_aug" not in config and "train_batch_size" not in config


def test_plan_json_has_the_promised_fields(tmp_path):
    plan = plan_for(tmp_path, concepts=[{"name": "a", "images": 30}, {"name": "b", "images": 15}])
    data = json.loads(emit.render(plan)["plan.json"])
    for key in ("script", "accelerate_args", "script_args", "decisions", "figures"):
        assert key in data
    assert {"key", "value", "rule", "reason", "source"} <= set(data["decisions"][0])
    figures = data["figures"]
    assert {"epochs", "steps_per_epoch", "total_steps", "concepts"} <= set(figures)
    assert figures["concepts"][1] == {
        "name": "b", "images": 15, "repeats": 2, "passes_per_image": 200, "image_passes_per_epoch": 30,
    }  # fmt: skip
    assert data["script_args"][:1] == ["--config_file"] and "--dataset_config" in data["script_args"]


def test_launch_multi_gpu(tmp_path):
    plan = plan_for(tmp_path, gpus=2)
    args = emit.accelerate_args(plan)
    assert "--multi_gpu" in args and args[args.index("--num_processes") + 1] == "2"
    assert args[args.index("--mixed_precision") + 1] == plan.value("mixed_precision")


def test_sample_prompts_per_tag_style(tmp_path):
    for tags, marker in (("natural", "a photo of"), ("booru", "solo"), ("e6", "solo")):
        plan = plan_for(tmp_path, samples=True, model={"tags": tags}, concepts=[{"name": "hmbrgr", "images": 30}])
        prompts = emit.render(plan)["sample_prompts.txt"]
        assert "hmbrgr" in prompts and marker in prompts and "--w 768 --h 768" in prompts
        assert plan.value("sample_every_n_epochs") == plan.value("save_every_n_epochs")
    assert "sample_prompts.txt" not in emit.render(plan_for(tmp_path))


def test_lycoris_preset_file_for_sd1(tmp_path):
    files = emit.render(plan_for(tmp_path, network="loha"))
    preset = toml.loads(files["lycoris_preset.toml"])
    assert "TimestepEmbedding" not in preset["unet_target_module"]
    assert "time_embedding.linear_1" in preset["unet_target_name"]
    assert "lycoris_preset.toml" not in emit.render(plan_for(tmp_path, network="loha", model={"family": "sdxl"}))


def test_write_plan_is_complete_and_atomic(tmp_path):
    plan = plan_for(tmp_path)
    written = emit.write_plan(plan)
    assert set(written) == {"config.toml", "dataset.toml", "plan.json", "preset.toml"}
    assert not list(plan.out_dir.glob(".*.tmp"))


def test_a_failure_between_the_plans_writes_leaves_the_old_plan_whole(tmp_path):
    """The disk refuses a later file of the new plan (a file-size limit, so every way of writing
    meets it): the old plan stays exactly as it was, and no temporary file is left."""
    import resource
    import signal

    from kohyawiz.errors import UserError

    old_plan = plan_for(tmp_path, concepts=[{"name": "hmbrgr", "images": 30}])
    emit.write_plan(old_plan)
    before = {p.name: p.read_bytes() for p in old_plan.out_dir.iterdir()}
    concepts = [{"name": f"concept{i:02d}", "images": 30} for i in range(12)]
    new_plan = plan_for(tmp_path, concepts=concepts, vram_gb=8)
    new_files = {name: text.encode() for name, text in emit.render(new_plan).items()}
    assert next(iter(new_files)) == "dataset.toml" and new_files["dataset.toml"] != before["dataset.toml"]
    # Every new file but plan.json fits under the limit; plan.json, written after dataset.toml, does not.
    limit = max(len(b) for b in [*before.values(), *(t for n, t in new_files.items() if n != "plan.json")]) + 1
    assert len(new_files["plan.json"]) > limit
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    previous = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, hard))
    try:
        with pytest.raises(UserError, match="cannot write the plan"):
            emit.write_plan(new_plan)
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, previous)
    assert {p.name: p.read_bytes() for p in old_plan.out_dir.iterdir()} == before


def test_strings_with_quotes_and_backslashes_survive(tmp_path):
    plan = plan_for(tmp_path, concepts=[{"name": 'o"brien, café', "images": 30, "folder": str(tmp_path / 'a\\b "c"')}])
    dataset = toml.loads(emit.render(plan)["dataset.toml"])
    subset = dataset["datasets"][0]["subsets"][0]
    assert subset["class_tokens"] == 'o"brien, café'
    assert subset["image_dir"] == str(tmp_path / 'a\\b "c"')


def test_plan_differences_name_each_file_and_the_keys_that_differ(tmp_path):
    plan = plan_for(tmp_path)
    assert emit.plan_differences(plan) == [f"{name} is not written yet" for name in emit.OWN_FILES
                                           if name in emit.render(plan)]  # fmt: skip
    emit.write_plan(plan)
    assert emit.plan_differences(plan) == []
    changed = plan_for(tmp_path, overrides={"max_train_steps": 30})
    lines = emit.plan_differences(changed)
    config = next(line for line in lines if line.startswith("config.toml"))
    assert "max_train_steps (none) -> 30" in config
    assert any(line.startswith("plan.json") for line in lines)
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "config.toml").write_text("# mine\n")
    assert emit.foreign_files(mine) == ["config.toml"]


def test_saved_preset_knows_kohyawiz_presets_from_the_persons_files(tmp_path):
    ours, theirs = tmp_path / "ours.toml", tmp_path / "theirs.toml"
    ours.write_text(emit.preset_toml(plan_for(tmp_path)))
    theirs.write_text("title = 'notes'\n")
    assert emit.saved_preset(ours) and not emit.saved_preset(theirs) and not emit.saved_preset(tmp_path / "none")
    link = tmp_path / "link.toml"
    link.symlink_to(ours)
    assert not emit.saved_preset(link)
