"""A plan as the files sd-scripts reads: dataset.toml, config.toml, the launch argv, plan.json.

Nothing is written until every file has been rendered; each file then appears atomically.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from glob import escape as glob_escape
from pathlib import Path
from typing import Any

from kohyawiz import __version__, tomlwrite
from kohyawiz.answers import strip_machine_paths
from kohyawiz.errors import UserError
from kohyawiz.families import family_spec
from kohyawiz.files import write_atomic as write_atomic  # re-export for branches still importing it from here
from kohyawiz.files import write_together
from kohyawiz.plan import Plan
from kohyawiz.resources import templates_dir
from kohyawiz.rules.network import OWN_PRESET
from kohyawiz.trust import shareable
from kohyawiz.values import parse_resolution

CONFIG_SECTIONS: dict[str, tuple[str, ...]] = {
    "model": (
        "pretrained_model_name_or_path", "v2", "v_parameterization", "clip_skip", "zero_terminal_snr",
        "no_half_vae", "vae", "tokenizer_cache_dir",
    ),
    "network": (
        "network_module", "network_dim", "network_alpha", "network_args", "network_dropout",
        "scale_weight_norms", "network_train_unet_only", "network_train_text_encoder_only", "network_weights",
    ),
    "optimizer": (
        "optimizer_type", "learning_rate", "unet_lr", "text_encoder_lr", "optimizer_args", "lr_scheduler",
        "lr_scheduler_num_cycles", "lr_warmup_steps", "max_grad_norm",
    ),
    "saving": (
        "output_dir", "output_name", "save_model_as", "save_precision", "save_every_n_epochs", "save_state",
        "sample_prompts", "sample_every_n_epochs", "sample_sampler",
    ),
    "memory": (
        "mixed_precision", "cache_latents", "cache_latents_to_disk", "cache_text_encoder_outputs",
        "gradient_checkpointing", "max_data_loader_n_workers", "persistent_data_loader_workers",
        "xformers", "sdpa", "mem_eff_attn",
    ),
}  # fmt: skip
CONFIG_NAME, DATASET_NAME, PLAN_NAME = "config.toml", "dataset.toml", "plan.json"
PROMPTS_NAME, LYCORIS_PRESET_NAME, PRESET_NAME = "sample_prompts.txt", "lycoris_preset.toml", "preset.toml"


def _header(plan: Plan, what: str) -> list[str]:
    return [
        f"# {what}, written by kohyawiz {__version__} for sd-scripts {plan.interface.version}.",
        "# Each comment names the rule that chose the value; `kohyawiz explain` tells why.",
    ]


def _section_of(key: str) -> str:
    return next((name for name, keys in CONFIG_SECTIONS.items() if key in keys), "training")


def config_toml(plan: Plan) -> str:
    grouped: dict[str, list[tuple[str, Any, str | None]]] = {}
    for decision in plan.config_args():
        note = decision.rule if decision.source == "rule" else f"override ({decision.rule})"
        grouped.setdefault(_section_of(decision.key), []).append((decision.key, decision.value, note))
    lines = _header(plan, f"Training arguments for {plan.script} --config_file")
    for section in (*CONFIG_SECTIONS, "training"):
        if section in grouped:
            lines += ["", f"[{section}]", *tomlwrite.pairs(grouped[section])]
    return "\n".join(lines) + "\n"


def dataset_value(key: str, value: Any) -> Any:
    """An argument's value in the shape the dataset config takes."""
    if key == "resolution":
        width, height = parse_resolution(value)
        return [width, height]
    if key == "face_crop_aug_range" and isinstance(value, str):
        return [float(v) for v in value.split(",")]
    return value


def dataset_entries(plan: Plan) -> tuple[list[tuple[str, Any, str | None]], list[tuple[str, Any, str | None]]]:
    """[general] entries and the entries every subset repeats."""
    general: list[tuple[str, Any, str | None]] = []
    per_subset: list[tuple[str, Any, str | None]] = []
    routes = plan.interface.dataset_routes
    for decision in plan.dataset_args():
        route = routes[decision.key]
        note = decision.rule if decision.source == "rule" else f"override ({decision.rule})"
        entry = (route.key, dataset_value(decision.key, decision.value), note)
        (general if route.level == "general" else per_subset).append(entry)
    return general, per_subset


def dataset_toml(plan: Plan) -> str:
    general, per_subset = dataset_entries(plan)
    lines = _header(plan, "Dataset config for --dataset_config")
    lines += ["# It beats the same keys given as arguments, so they are set here.", "", "[general]"]
    lines += tomlwrite.pairs(general)
    lines += ["", "[[datasets]]"]
    for concept in plan.concepts:
        decided = plan.decision(f"concepts.{concept.name}.num_repeats")
        subset = [
            ("image_dir", str(concept.image_dir), None),
            ("num_repeats", concept.repeats, decided.rule if decided else "M-BALANCE"),
            ("class_tokens", ", ".join(concept.triggers), "caption used where an image has none"),
            *per_subset,
        ]
        lines += ["", "  [[datasets.subsets]]", *tomlwrite.pairs(subset, indent="  ")]
    return "\n".join(lines) + "\n"


def accelerate_args(plan: Plan) -> list[str]:
    """accelerate's num_processes counts every GPU of every machine; the machine rank and the head
    node's address are the cluster's to give at launch (kohyawiz export --slurm / --skypilot)."""
    args = [
        "--num_cpu_threads_per_process", "2",
        "--num_processes", str(plan.answers.processes),
        "--num_machines", str(plan.answers.nodes),
        "--mixed_precision", str(plan.value("mixed_precision", "no")),
    ]  # fmt: skip
    if plan.answers.processes > 1:
        args.append("--multi_gpu")
    return args


def script_args(plan: Plan) -> list[str]:
    return ["--config_file", str(plan.out_dir / CONFIG_NAME), "--dataset_config", str(plan.out_dir / DATASET_NAME)]


def launch_argv(plan: Plan, sd_scripts: str = "<sd-scripts>", accelerate: str = "accelerate") -> list[str]:
    return [accelerate, "launch", *accelerate_args(plan), f"{sd_scripts}/{plan.script}", *script_args(plan)]


def _prompt_text(text: str, limit: int = 200) -> str:
    """Text from answers as it may stand in sample_prompts.txt: one line, and no ` --x` that
    sd-scripts would read as a sampler option (width, steps, seed...)."""
    one_line = " ".join(text.split())
    safe = one_line.replace("--", "\u2013")
    return safe[:limit]


def sample_prompts(plan: Plan) -> str | None:
    if not plan.value("sample_prompts"):
        return None
    template = (templates_dir() / "sample_prompts" / f"{plan.answers.model.tags}.txt").read_text()
    width, height = parse_resolution(plan.value("resolution", "512"))
    prompts = [line for line in template.splitlines() if line.strip() and not line.startswith("#")]
    spec = family_spec(plan.answers.model.family)
    if spec.dit:
        prompts = [_family_options(line, spec.sample_options) for line in prompts]
    out = []
    for concept in plan.concepts:
        triggers = _prompt_text(", ".join(concept.triggers))
        values = {"triggers": triggers, "width": width, "height": height}
        out += [line.format_map(values) for line in prompts]
    return "\n".join(out) + "\n"


def _family_options(line: str, options: str) -> str:
    """A template line with the DiT trainer's own sampler options (F-PROMPTS): the prompt, its size
    and seed stay; steps, CFG scale and the negative prompt follow the family (Flux dev samples
    with embedded guidance and no negative prompt)."""
    prompt, *parts = line.split(" --")
    kept = {p.split(" ", 1)[0]: p for p in parts}
    negative = kept.get("n", "n ").removeprefix("n ").strip() or "lowres, blurry"
    sized = " ".join(f"--{kept[k]}" for k in ("w", "h", "d") if k in kept)
    family = options.replace("{negative}", negative.replace("{", "{{").replace("}", "}}"))
    return f"{prompt} {family} {sized}"


def lycoris_preset(plan: Plan) -> str | None:
    """The full preset's targets without the time-embedding class that duplicates names on SD1/SD2."""
    if plan.value("lycoris_preset") != OWN_PRESET:
        return None
    lines = [
        "# LyCORIS preset written by kohyawiz: the targets of the built-in `full` preset for SD",
        "# UNets, leaving out the TimestepEmbedding class that lycoris-lora 4.x also matches by",
        "# name (time_embedding.linear_*), which stops training with a duplicated module name.",
        *tomlwrite.pairs(
            [
                ("enable_conv", True, None),
                ("unet_target_module", ["Transformer2DModel", "ResnetBlock2D", "Downsample2D", "Upsample2D"], None),
                (
                    "unet_target_name",
                    ["conv_in", "conv_out", "time_embedding.linear_1", "time_embedding.linear_2"],
                    None,
                ),
                ("text_encoder_target_module", ["CLIPAttention", "CLIPSdpaAttention", "CLIPMLP"], None),
            ]
        ),
        "text_encoder_target_name = []",
    ]
    return "\n".join(lines) + "\n"


def plan_json(plan: Plan) -> dict[str, Any]:
    return {
        "kohyawiz": __version__,
        "sd_scripts_version": plan.interface.version,
        "script": plan.script,
        "accelerate_args": accelerate_args(plan),
        "script_args": script_args(plan),
        "launch": launch_argv(plan),
        "files": {"config": CONFIG_NAME, "dataset": DATASET_NAME},
        "lycoris_version": plan.notes.get("lycoris_version"),
        "answers": plan.answers.model_dump(mode="json"),
        "decisions": [d.as_dict() for d in plan.decisions],
        "findings": [f.as_dict() for f in plan.findings],
        "figures": {**plan.figures.as_dict(), **({"vram": plan.vram.as_dict()} if plan.vram else {})},
        "requires": requirements(plan),
    }


PLAN_OUTPUT_KEYS = ("output_dir", "logging_dir")
"""Where a run writes: made where it runs, never needed beforehand."""


def requirements(plan: Plan) -> dict[str, Any]:
    """What must exist where the plan runs (`kohyawiz export` checks and uploads it): the models, as
    a Hugging Face id or a path to upload, the image folders, the sd-scripts commit and the torch build."""
    models: list[dict[str, str]] = []
    for decision in plan.emitted():
        values = decision.value if isinstance(decision.value, list) else [decision.value]
        for value in values:
            text = value.split("=", 1)[1] if isinstance(value, str) and "=" in value else value
            if decision.key in PLAN_OUTPUT_KEYS or not isinstance(text, str) or not text.startswith(("/", "~")):
                continue
            if plan.out_dir not in Path(text).parents:
                models.append({"key": decision.key, "path": text})
    base = plan.value("pretrained_model_name_or_path")
    if isinstance(base, str) and base and not base.startswith(("/", "~", ".")):
        models.insert(0, {"key": "pretrained_model_name_or_path", "hub_id": base})
    return {
        "models": models,
        "datasets": [{"concept": c.name, "path": str(c.image_dir)} for c in plan.concepts],
        "sd_scripts": {"version": plan.interface.version, "commit": plan.interface.info.commit},
        "torch": "the build for the machine's NVIDIA driver, as `kohyawiz sd-scripts install` picks it",
        "machines": plan.answers.nodes,
        "gpus_per_machine": plan.answers.gpus,
    }


PRESET_SCHEMA_LINE = "#:schema https://kohyawiz.invalid/schemas/preset-v1.json"


def saved_preset(path: Path) -> bool:
    """Whether `path` is a preset file kohyawiz wrote (its first line is kohyawiz's schema line),
    so saving answers over it replaces no file of the person's; a link never counts."""
    if path.is_symlink() or not path.is_file():
        return False
    try:
        with path.open("rb") as handle:
            return handle.readline().decode("utf-8", "replace").strip() == PRESET_SCHEMA_LINE
    except OSError:
        return False


def preset_text(answers: dict[str, Any], overrides: dict[str, Any], description: str) -> str:
    """A preset file: scalar answers, then answer tables, then concepts, then overrides."""
    lines = [
        PRESET_SCHEMA_LINE,
        "schema_version = 1",
        f"description = {tomlwrite.value(description)}",
        "",
        "[answers]",
    ]
    lines += tomlwrite.pairs(
        [(k, v, None) for k, v in answers.items() if not isinstance(v, dict | list) or _scalar_list(v)]
    )
    for name, table in answers.items():
        if isinstance(table, dict) and table:
            lines += ["", f"[answers.{name}]", *tomlwrite.pairs([(k, v, None) for k, v in table.items()])]
    for concept in answers.get("concepts", []):
        lines += ["", "[[answers.concepts]]", *tomlwrite.pairs([(k, v, None) for k, v in concept.items()])]
    if overrides:
        lines += ["", "[overrides]", *tomlwrite.pairs([(k, v, None) for k, v in overrides.items()])]
    return "\n".join(lines) + "\n"


def preset_toml(plan: Plan, description: str = "answers saved by kohyawiz") -> str:
    """The plan's answers as a shareable preset: no machine paths, and only the overrides a shared
    preset may carry (the trust boundary's own test); what was left out is said in a comment."""
    data = strip_machine_paths(plan.answers.model_dump(mode="json", exclude_none=True))
    data.pop("schema_version", None)
    overrides, dropped = shareable(plan.answers.overrides)
    options, dropped_options = shareable(data.get("network_options") or {})
    if "network_options" in data:
        data["network_options"] = options
    text = preset_text(data, overrides, description)
    left_out = sorted({r.key for r in (*dropped, *dropped_options)})
    if left_out:
        text += f"# left out (a shared preset cannot carry them; set them yourself): {', '.join(left_out)}\n"
    return text


def _scalar_list(value: Any) -> bool:
    return isinstance(value, list) and all(not isinstance(v, dict | list) for v in value)


def render(plan: Plan) -> dict[str, str]:
    """Every file of the plan folder, by name."""
    try:
        files = {
            DATASET_NAME: dataset_toml(plan),
            CONFIG_NAME: config_toml(plan),
            PLAN_NAME: json.dumps(plan_json(plan), indent=2, allow_nan=False) + "\n",
            PRESET_NAME: preset_toml(plan),
        }
    except (ValueError, TypeError) as exc:  # a value no TOML or JSON file can hold
        raise UserError(f"the plan holds a value its files cannot: {exc}") from exc
    for name, text in files.items():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise UserError(f"{name} would hold text that is not valid Unicode (position {exc.start})") from None
    if (prompts := sample_prompts(plan)) is not None:
        files[PROMPTS_NAME] = prompts
    if (preset := lycoris_preset(plan)) is not None:
        files[LYCORIS_PRESET_NAME] = preset
    return files


OWN_FILES = (CONFIG_NAME, DATASET_NAME, PLAN_NAME, PROMPTS_NAME, LYCORIS_PRESET_NAME, PRESET_NAME)
MANIFEST_NAME = ".kohyawiz-manifest.json"
"""What kohyawiz wrote into a plan folder, with each file's hash: a file not in it, or changed
since, is the person's and is never replaced or removed without --force."""


def file_hash(path: Path) -> str | None:
    """sha256 of a regular file that is no link, or None."""
    import hashlib

    try:
        if path.is_symlink() or not path.is_file():
            return None
        with path.open("rb") as handle:
            return hashlib.file_digest(handle, "sha256").hexdigest()
    except OSError:
        return None


def read_manifest(folder: Path) -> dict[str, str]:
    """name -> sha256 of the files kohyawiz wrote in `folder` (empty when there is no manifest)."""
    from kohyawiz.door import read_json

    path = folder / MANIFEST_NAME
    if path.is_symlink() or not path.is_file():
        return {}
    try:
        data = read_json(path, "plan folder manifest")
    except UserError:
        return {}
    files = data.get("files") if isinstance(data, dict) else None
    if not isinstance(files, dict):
        return {}
    return {str(k): str(v) for k, v in files.items() if isinstance(v, str) and "/" not in str(k)}


def written_by_kohyawiz(folder: Path, name: str) -> bool:
    """Whether `folder/name` is a file kohyawiz wrote there and nobody has changed since."""
    recorded = read_manifest(folder).get(name)
    return recorded is not None and file_hash(folder / name) == recorded


def foreign_files(folder: Path, names: Iterable[str] = OWN_FILES) -> list[str]:
    """Those of `names` that exist in `folder` and are the person's: not written by kohyawiz (by
    the manifest), changed since, or a link. The wizard and `plan --out` refuse to replace them."""
    manifest = read_manifest(folder)
    out = []
    for name in names:
        path = folder / name
        if not (path.exists() or path.is_symlink()):
            continue
        if manifest.get(name) is None or file_hash(path) != manifest[name]:
            out.append(name)
    return out


WRITTEN_LEDGER = "written.json"
"""sha256 of the single files kohyawiz wrote (imported presets, exported GUI configs), in its home."""


def _written_hashes() -> list[str]:
    from kohyawiz.door import read_json
    from kohyawiz.files import kohyawiz_home

    path = kohyawiz_home() / WRITTEN_LEDGER
    try:
        data = read_json(path, "ledger of written files") if path.is_file() else []
    except UserError:
        return []
    return [d for d in data if isinstance(d, str)] if isinstance(data, list) else []


def write_own_file(path: Path, text: str, what: str) -> None:
    """Write one file (an imported preset, an exported config), but never over a file kohyawiz did
    not write there or that was changed since: that one is the person's."""
    from kohyawiz.files import kohyawiz_home

    if path.is_symlink() or path.exists():
        current = file_hash(path)
        if current is None or current not in set(_written_hashes()):
            raise UserError(f"already holds a file kohyawiz did not write (or one changed since): choose another "
                            f"place for the {what}, or move that file away", where=str(path))  # fmt: skip
    try:
        write_atomic(path, text)
    except OSError as exc:
        raise UserError(f"cannot write the {what}: {exc.strerror or exc}", where=str(path)) from exc
    digest = file_hash(path)
    try:
        ledger = kohyawiz_home() / WRITTEN_LEDGER
        ledger.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(ledger, json.dumps([*_written_hashes(), digest][-10_000:]) + "\n")
    except OSError:
        pass  # an unwritable home only means the file is the person's next time


def _clean_temporaries(folder: Path) -> None:
    """Temporary files a killed plan left behind (they are kohyawiz's own names)."""
    for name in (*OWN_FILES, MANIFEST_NAME):
        for temp in folder.glob(f".{glob_escape(name)}.*.tmp"):
            if temp.is_file() and not temp.is_symlink():
                temp.unlink(missing_ok=True)


def write_plan(plan: Plan, *, force: bool = False) -> dict[str, Path]:
    """Write every file of the plan. Files kohyawiz did not write (or that were changed since it
    wrote them) are never replaced unless `force`; files of an earlier plan that this one no
    longer has are removed when they are unchanged."""
    files = render(plan)
    folder = plan.out_dir
    if folder.exists() and not folder.is_dir():
        raise UserError("is a file, not a folder: choose another --out", where=str(folder))
    foreign = foreign_files(folder, files) if folder.is_dir() else []
    if foreign and not force:
        raise UserError(f"holds {foreign[0]}, which kohyawiz did not write or which was changed since: choose "
                        "another --out, or --force to replace it", where=str(folder))  # fmt: skip
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:  # a parent that is a file, no permission, a read-only disk
        raise UserError(f"cannot create the plan folder: {exc.strerror or exc}", where=str(folder)) from exc
    _clean_temporaries(folder)
    earlier = read_manifest(folder)
    written = write_together(folder, files, "the plan")
    for name in OWN_FILES:
        if name not in files and written_by_kohyawiz(folder, name):
            (folder / name).unlink()  # an earlier plan's sample prompts or LyCORIS preset must not survive
    hashes = {name: file_hash(path) for name, path in written.items()}
    kept = {name: digest for name, digest in earlier.items() if name not in OWN_FILES}
    manifest = {"kohyawiz": __version__, "files": {**kept, **{n: h for n, h in hashes.items() if h}}}
    try:
        write_atomic(folder / MANIFEST_NAME, json.dumps(manifest, indent=2) + "\n")
    except OSError as exc:
        raise UserError(f"cannot write the plan's manifest: {exc.strerror or exc}", where=str(folder)) from exc
    from kohyawiz.trust import remember_named

    remember_named({d.key: d.value for d in plan.emitted()}, folder)
    for concept in plan.concepts:
        remember_named({"image_dir": str(concept.image_dir)}, folder)
    return written


def plan_differences(plan: Plan) -> list[str]:
    """How the plan folder's files differ from what `plan` would write, one line per file (the
    keys that differ, for the TOML files); empty when the folder holds exactly this plan."""
    files = render(plan)
    out = []
    for name in OWN_FILES:
        path = plan.out_dir / name
        if name not in files:
            if written_by_kohyawiz(plan.out_dir, name):
                out.append(f"{name} is not part of this plan")
            continue
        try:
            on_disk = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            out.append(f"{name} is not written yet")
            continue
        except (OSError, UnicodeDecodeError) as exc:
            out.append(f"{name} cannot be read ({exc})")
            continue
        if on_disk != files[name]:
            keys = _toml_changes(on_disk, files[name]) if name.endswith(".toml") else []
            out.append(f"{name}: {'; '.join(keys)}" if keys else f"{name} differs")
    return out


def _toml_changes(old: str, new: str, shown: int = 4) -> list[str]:
    """`key: on disk -> planned` for the keys whose values differ (the first few)."""
    import tomllib

    try:
        before, after = _flat(tomllib.loads(old)), _flat(tomllib.loads(new))
    except tomllib.TOMLDecodeError:
        return []
    changed = [f"{key} {before.get(key, '(none)')} -> {after.get(key, '(none)')}"
               for key in sorted(set(before) | set(after)) if before.get(key) != after.get(key)]  # fmt: skip
    return changed[:shown] + ([f"{len(changed) - shown} more"] if len(changed) > shown else [])


def _flat(value: Any, prefix: str = "") -> dict[str, Any]:
    items: Any
    if isinstance(value, dict):
        items = value.items()
    elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        items = enumerate(value)  # [[datasets]] and [[datasets.subsets]] tables
    else:
        return {prefix.rstrip("."): value}
    out: dict[str, Any] = {}
    for key, inner in items:
        out |= _flat(inner, f"{prefix}{key}.")
    return out
