"""Paths as sd-scripts will see them: every path a plan writes is absolute, made from the folder
kohyawiz ran in (CLI, wizard and presets alike: the core does it), and preflight looks for each one
from the sd-scripts checkout, where training runs (tests/fake_sd stops, as sd-scripts does, when the
base model is not found from there)."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from conftest import make_folder
from test_families import header_file, model_with_companions

from kohyawiz.assemble import PlanRequest, plan_from_request
from kohyawiz.emit import write_plan
from kohyawiz.run.sdscripts.locate import find_sd_scripts
from kohyawiz.run.train import PlanFolder, preflight, train
from kohyawiz.sdpaths import PATH_ARGS, absolute, looks_local
from kohyawiz.tui.state import WizardState

FAKE = Path(__file__).resolve().parent / "fake_sd"
LOGS = Path(__file__).resolve().parent / "data" / "sd-scripts-logs"
SD1 = {"model.diffusion_model.input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight": [320, 768],
       "cond_stage_model.transformer.text_model.embeddings.position_embedding.weight": [77, 768]}  # fmt: skip


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    """A folder the person works in, with a model and a dataset named relative to it."""
    monkeypatch.setenv("KOHYAWIZ_HOME", str(tmp_path / "home"))
    work = tmp_path / "work"
    header_file(work / "models" / "base.safetensors", SD1)
    make_folder(work / "train", "1_tinyconcept", [(768, 768)] * 20, "tinyconcept, solo")
    monkeypatch.chdir(work)
    return work


def _config(folder: Path) -> dict:
    flat: dict = {}
    for key, value in tomllib.loads((folder / "config.toml").read_text()).items():
        flat.update(value if isinstance(value, dict) else {key: value})
    return flat


def _relative_plan(**answers) -> Path:
    request = PlanRequest(out_dir=Path("plan"), preset="character-sd15", dataset=Path("train"),
                          answers={"vram_gb": 12, "model": {"path": "models/base.safetensors"}, **answers})  # fmt: skip
    plan, _ = plan_from_request(request)
    write_plan(plan)
    return Path("plan").resolve()


def test_a_plan_made_from_a_relative_model_path_trains(workdir):
    folder = _relative_plan()
    assert _config(folder)["pretrained_model_name_or_path"] == str(workdir / "models" / "base.safetensors")
    sd = find_sd_scripts(str(FAKE), sys.executable)
    plan = PlanFolder.load(folder)
    assert preflight(plan, sd).errors == []
    outcome, _ = train(plan, sd, env_extra={"KOHYAWIZ_FAKE_LOG": str(LOGS / "lora-console-log-simple.log")})
    assert outcome.status == "completed" and outcome.outputs


def test_a_relative_path_is_looked_for_where_sd_scripts_runs(workdir):
    """The plan as kohyawiz used to write it: preflight refuses it, and sd-scripts (the double)
    would not find the model from its checkout either."""
    folder = _relative_plan()
    plan = PlanFolder.load(folder)  # loading refuses a hand-edited path that leads out (kohyawiz/trust.py)
    config = folder / "config.toml"
    config.write_text(config.read_text().replace(str(workdir / "models"), "models"))
    plan.config = tomllib.loads(config.read_text())
    sd = find_sd_scripts(str(FAKE), sys.executable)
    errors = preflight(plan, sd).errors
    assert any("the base model models/base.safetensors is relative: sd-scripts runs in" in e for e in errors)
    assert any(str(workdir / "models" / "base.safetensors") in e for e in errors)  # what to write instead
    double = subprocess.run([sys.executable, str(FAKE / "train_network.py"), "--config_file", str(config)], cwd=FAKE,
                            env={**os.environ, "KOHYAWIZ_FAKE_LOG": str(LOGS / "lora-console-log-simple.log")},
                            capture_output=True, text=True)  # fmt: skip
    assert double.returncode == 1 and "is neither a valid local path" in double.stdout


def test_every_path_a_dit_plan_writes_is_absolute(workdir):
    model = model_with_companions(workdir / "dit", "flux")
    header_file(workdir / "mine" / "t5xxl_fp8.safetensors", {"w": [4, 4]})
    (workdir / "mine" / "prompts.txt").write_text("a photo\n")
    header_file(workdir / "mine" / "start.safetensors", {"w": [4, 4]})
    overrides = {"t5xxl": "mine/t5xxl_fp8.safetensors", "network_weights": "./mine/../mine/start.safetensors",
                 "sample_prompts": "mine/prompts.txt", "tokenizer_cache_dir": "cache"}  # fmt: skip
    request = PlanRequest(out_dir=Path("fluxplan"), dataset=Path("train"), overrides=overrides,
                          answers={"subject": "character", "vram_gb": 24, "samples": True,
                                   "model": {"path": str(model.relative_to(workdir))}})  # fmt: skip
    plan, _ = plan_from_request(request)
    write_plan(plan)
    config = _config(workdir / "fluxplan")
    paths = {k: v for k, v in config.items() if k in PATH_ARGS}
    assert {"pretrained_model_name_or_path", "clip_l", "t5xxl", "ae", "output_dir", "logging_dir",
            "sample_prompts", "network_weights", "tokenizer_cache_dir"} <= set(paths)  # fmt: skip
    assert all(Path(v).is_absolute() for v in paths.values()), paths
    assert paths["network_weights"] == str(workdir / "mine" / "start.safetensors")
    assert paths["t5xxl"] == str(workdir / "mine" / "t5xxl_fp8.safetensors")
    dataset = tomllib.loads((workdir / "fluxplan" / "dataset.toml").read_text())
    assert all(Path(s["image_dir"]).is_absolute() for d in dataset["datasets"] for s in d["subsets"])


def test_the_wizard_gets_the_same_absolute_paths(workdir):
    """One core: a path typed in the wizard is made absolute by the same call as the CLI's."""
    state = WizardState(subject="character", vram_gb=12, model_path="models/base.safetensors",
                        dataset="train", out_dir="wizplan")  # fmt: skip
    plan, _ = plan_from_request(state.request())
    assert plan.value("pretrained_model_name_or_path") == str(workdir / "models" / "base.safetensors")
    assert all(c.image_dir.is_absolute() for c in plan.concepts)


def test_a_hugging_face_id_is_not_a_path(workdir):
    assert not looks_local("runwayml/stable-diffusion-v1-5") and looks_local("models/base.safetensors")
    assert looks_local("train") and looks_local("~/x") and looks_local("a/b/c") and not looks_local("x" * 5000)
    assert absolute("./a/../b", Path("/r")) == "/r/b" and absolute("/x/y", Path("/r")) == "/x/y"
    request = PlanRequest(out_dir=Path("hub"), concept_counts=[("c", 20)],
                          answers={"subject": "character", "vram_gb": 12,
                                   "model": {"family": "sd1", "path": "runwayml/stable-diffusion-v1-5"}})  # fmt: skip
    plan, _ = plan_from_request(request)
    assert plan.value("pretrained_model_name_or_path") == "runwayml/stable-diffusion-v1-5"


def test_a_name_too_long_to_be_a_file_is_said_not_a_crash(workdir):
    request = PlanRequest(out_dir=Path("long"), concept_counts=[("c", 20)],
                          answers={"subject": "character", "vram_gb": 12, "model": {"family": "sd1", "path": "x" * 5000}})  # fmt: skip
    plan, _ = plan_from_request(request)
    assert any(f.rule == "T-FAMILY" and "cannot be read" in f.message for f in plan.findings)


def test_a_lycoris_preset_file_in_network_args_is_made_absolute(workdir):
    (workdir / "mine").mkdir()
    (workdir / "mine" / "targets.toml").write_text("[x]\n")
    for how in ({"overrides": {"network_args": "algo=locon preset=mine/targets.toml conv_dim=16 conv_alpha=1"}},
                {"answers_extra": {"network_options": {"preset": "mine/targets.toml"}}}):  # fmt: skip
        answers = {"subject": "style", "vram_gb": 12, "network": "locon", "model": {"family": "sd1"},
                   **how.get("answers_extra", {})}  # fmt: skip
        request = PlanRequest(out_dir=Path("lyco"), concept_counts=[("c", 60)], answers=answers,
                              overrides=how.get("overrides", {}))  # fmt: skip
        plan, _ = plan_from_request(request)
        assert f"preset={workdir / 'mine' / 'targets.toml'}" in plan.value("network_args")
    builtin, _ = plan_from_request(PlanRequest(out_dir=Path("lyco2"), concept_counts=[("c", 60)], answers={
        "subject": "style", "vram_gb": 12, "network": "locon", "model": {"family": "sd2"},
        "network_options": {"preset": "attn-mlp"}}))  # fmt: skip
    assert "preset=attn-mlp" in builtin.value("network_args")  # a built-in name stays a name


REAL = ("KOHYAWIZ_SD_SCRIPTS", "KOHYAWIZ_SD_PYTHON", "KOHYAWIZ_E2E_MODEL", "KOHYAWIZ_E2E_TOKENIZERS")


@pytest.mark.sdscripts
@pytest.mark.skipif(not all(os.environ.get(v) for v in REAL), reason="set " + ", ".join(REAL))
def test_a_plan_from_relative_paths_trains_on_the_real_sd_scripts(workdir, monkeypatch):
    """Opt-in, on the harness's random SD1.5: `models/tiny-sd15` (a diffusers folder, written like a
    Hugging Face id) and `tokenizers` typed relative to the person's folder; sd-scripts runs in its
    checkout and trains 4 steps on CPU."""
    for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
        monkeypatch.setenv(name, "1")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    model = Path(os.environ["KOHYAWIZ_E2E_MODEL"])
    (workdir / "models" / model.name).symlink_to(model)
    (workdir / "tokenizers").symlink_to(os.environ["KOHYAWIZ_E2E_TOKENIZERS"])
    make_folder(workdir / "data", "1_tinyconcept", [(64, 64)] * 4, "tinyconcept, square")
    request = PlanRequest(
        out_dir=Path("realplan"), dataset=Path("data"), force=True,
        answers={"subject": "concept", "vram_gb": 12, "model": {"family": "sd1", "path": f"models/{model.name}"}},
        overrides={"resolution": "64", "min_bucket_reso": "64", "max_bucket_reso": "128", "max_train_epochs": "1",
                   "mixed_precision": "no", "save_precision": "float", "max_data_loader_n_workers": "0",
                   "persistent_data_loader_workers": "false", "tokenizer_cache_dir": "tokenizers"},
    )  # fmt: skip
    plan, _ = plan_from_request(request)
    write_plan(plan)
    config = _config(workdir / "realplan")
    assert config["pretrained_model_name_or_path"] == str(workdir / "models" / model.name)
    assert config["tokenizer_cache_dir"] == str(workdir / "tokenizers")
    folder = PlanFolder.load(workdir / "realplan")
    sd = find_sd_scripts(os.environ["KOHYAWIZ_SD_SCRIPTS"], os.environ["KOHYAWIZ_SD_PYTHON"])
    assert preflight(folder, sd).errors == []
    outcome, record = train(folder, sd)
    assert outcome.status == "completed", (record.folder / "train.log").read_text()[-2000:]
    assert outcome.final_step == 4 and Path(outcome.outputs[-1]["path"]).is_file()


def test_a_typed_model_path_that_does_not_exist_is_named_as_a_path_not_a_hub_id(workdir):
    """T-BASE, T-FAMILY: a typo in a relative model path (`models/bsae.safetensors`, ComfyUI's
    `models/diffusion_models/...`) is no Hugging Face id: inspect says the file is missing and from
    where it looked; a plan that needed its header says why the family is unknown; a plan that names
    the family warns that the run would stop on it."""
    from kohyawiz.errors import UserError
    from kohyawiz.models import inspect_model

    for typo in ("models/bsae.safetensors", "ComfyUI/models/diffusion_models/flux1-dve.safetensors"):
        with pytest.raises(UserError, match=rf"no such file or folder \(looked for from {workdir}\)"):
            inspect_model(typo)
    def request(model: dict) -> PlanRequest:
        return PlanRequest(out_dir=Path("plan"), dataset=Path("train"),
                           answers={"subject": "character", "vram_gb": 12, "model": model})  # fmt: skip

    with pytest.raises(UserError, match=r"no such file or folder.*fix the model path, or name its family"):
        plan_from_request(request({"path": "models/bsae.safetensors"}))
    plan, _ = plan_from_request(request({"path": "models/bsae.safetensors", "family": "sd1"}))
    warned = [f.message for f in plan.findings if f.rule == "T-BASE" and f.level == "warn"]
    assert any("no such file or folder" in m and "the run stops" in m for m in warned), warned
    assert looks_local("org/name") is False and looks_local("models/base.safetensors") is True


def test_an_n_name_folder_given_as_the_dataset_is_refused_naming_its_parent(workdir):
    """D-FOLDER: `--dataset train/1_tinyconcept` (the concept folder, not the folder holding it)
    says so and names the folder to give, instead of 'concepts is missing: pass --dataset'."""
    from kohyawiz.errors import UserError

    request = PlanRequest(out_dir=Path("plan"), dataset=Path("train/1_tinyconcept"),
                          answers={"subject": "character", "vram_gb": 12, "model": {"path": "models/base.safetensors"}})  # fmt: skip
    with pytest.raises(UserError, match=rf"is itself an N_name folder: give the folder that holds it, {workdir / 'train'}$"):
        plan_from_request(request)


def test_a_concept_of_no_images_is_refused_before_it_plans_no_steps():
    """--concept NAME=0 planned '0 images x 1 repeats, 100 passes per image ... 0 steps'."""
    from kohyawiz.assemble import parse_concept
    from kohyawiz.errors import UserError

    for text in ("mychar=0", "mychar=-3"):
        with pytest.raises(UserError, match="at least 1"):
            parse_concept(text)
    assert parse_concept("mychar, armor=12") == ("mychar, armor", 12)
