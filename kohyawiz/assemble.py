"""One way from a face's inputs (a preset, flags or wizard answers, a dataset folder) to a plan.

The CLI and the wizard both build a PlanRequest; this module turns it into Answers and a Plan,
so the same answers always give the same files.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from kohyawiz.answers import Answers
from kohyawiz.dataset.doctor import CheckOptions, check_dataset
from kohyawiz.dataset.scan import DatasetScan, parse_folder_name, scan_training_dir
from kohyawiz.decisions import Finding
from kohyawiz.errors import UserError
from kohyawiz.facts import resolve_version
from kohyawiz.plan import Plan, build_plan
from kohyawiz.presets import deep_merge, load_preset
from kohyawiz.values import parse_resolution

# What to tell a person who left a required answer out.
_HINTS = {
    "subject": "pass --subject character|concept|object|clothing|style",
    "model.family": "pass --family sd1|sd2|sdxl|flux|chroma|sd3|lumina|anima|hunyuan-image",
    "vram_gb": "pass --vram GB",
    "concepts": "pass --dataset DIR or --concept NAME=COUNT",
}


@dataclass
class PlanRequest:
    out_dir: Path
    preset: str | None = None
    answers: dict[str, Any] = field(default_factory=dict)
    """Answers given directly (flags, wizard), laid over the preset's."""
    dataset: Path | None = None
    concept_counts: list[tuple[str, int]] = field(default_factory=list)
    overrides: dict[str, Any] = field(default_factory=dict)
    sd_scripts_version: str | None = None
    force: bool = False


@dataclass
class Assembled:
    answers: Answers
    sizes: dict[str, list[tuple[int, int]]]
    preset_overrides: dict[str, Any]
    preset_where: str
    scan: DatasetScan | None
    inspected: list[Finding] = field(default_factory=list)


def parse_concept(text: str) -> tuple[str, int]:
    name, sep, count = text.rpartition("=")
    if not sep or not name.strip():
        raise UserError(f"--concept {text!r}: write NAME=COUNT, e.g. --concept 'hmbrgr=30'")
    try:
        number = int(count)
    except ValueError:
        raise UserError(f"--concept {text!r}: the count must be a whole number of images") from None
    if number < 1:  # 0 images plans 0 steps, a run that trains nothing
        raise UserError(f"--concept {text!r}: the count is the concept's images, at least 1")
    return name.strip(), number


def parse_override(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise UserError(f"--set {text!r}: write KEY=VALUE with an sd-scripts argument, e.g. --set network_dim=16")
    return key.strip().lstrip("-"), value


def _concepts_from_scan(scan: DatasetScan) -> tuple[list[dict[str, Any]], dict[str, list[tuple[int, int]]]]:
    concepts, sizes = [], {}
    for found in scan.concepts:
        concepts.append(
            {
                "name": found.name,
                "images": len(found.images),
                "folder": str(found.folder),
                "folder_repeats": found.repeats,
            }
        )
        if not found.unreadable:
            sizes[found.name] = found.known_sizes()
    return concepts, sizes


def _concept_folders(root: Path) -> list[str]:
    """The `N_name` folders directly in root (sorted), without reading any image."""
    try:
        children = sorted(child.name for child in root.iterdir() if child.is_dir() and not child.is_symlink())
    except OSError:
        return []
    held = []
    for name in children:
        try:
            if parse_folder_name(name) is not None:
                held.append(name)
        except ValueError:
            continue
    return held


def assemble(request: PlanRequest) -> Assembled:
    data: dict[str, Any] = {}
    preset_overrides: dict[str, Any] = {}
    where = "preset"
    if request.preset:
        preset = load_preset(request.preset)
        data, preset_overrides, where = preset.answers, dict(preset.overrides), str(preset.path)
    given_by = "the family you gave is" if "family" in (request.answers.get("model") or {}) else f"{where}'s family is"
    data = deep_merge(data, request.answers)
    inspected, unread = _inspect_into(data, given_by, request.force)
    sizes: dict[str, list[tuple[int, int]]] = {}
    scan = None
    if request.concept_counts:
        root = request.dataset.expanduser().resolve() if request.dataset else None
        if root is not None and (held := _concept_folders(root)):
            # Concepts as name=count plan images that do not exist yet; a folder that already holds
            # concept folders would be planned as empty 1_name folders beside them, silently.
            raise UserError(f"already holds concept folders ({', '.join(held[:3])}): plan from them by leaving out "
                            "the concepts given as name=count (--concept), or give a new folder for them",
                            where=str(root))  # fmt: skip
        concepts = []
        for name, count in request.concept_counts:
            concept: dict[str, Any] = {"name": name, "images": count}
            if root is not None:
                concept["folder"] = str(root / f"1_{name}")
            concepts.append(concept)
        data["concepts"] = _merge_concepts(data.get("concepts"), concepts)
    elif request.dataset is not None:
        extensions = resolve_version(request.sd_scripts_version).image_extensions
        scan = scan_training_dir(request.dataset, extensions)
        scanned, sizes = _concepts_from_scan(scan)
        if scanned:
            data["concepts"] = _merge_concepts(data.get("concepts"), scanned)
        elif not data.get("concepts"):
            # nothing to plan from: the folder's own error, not "pass --dataset" to someone who did
            error = next((f for f in scan.findings if f.level == "error"), None)
            if error is not None:
                raise UserError(f"{error.rule}: {error.message}", where=str(request.dataset))
    if request.overrides:
        data["overrides"] = {**data.get("overrides", {}), **request.overrides}
    try:
        answers = Answers.model_validate(data)
    except ValidationError as exc:
        if unread is not None and _missing(exc) in ("model", "model.family"):
            # the family was to come from the header: say why it did not, not only that it is missing
            raise UserError(f"{unread}; fix the model path, or name its family ({_HINTS['model.family']}) to plan "
                            "before the model exists") from exc  # fmt: skip
        raise UserError(_answer_error(exc)) from exc
    return Assembled(answers, sizes, preset_overrides, where, scan, inspected)


def _inspect_into(data: dict[str, Any], given_by: str, force: bool) -> tuple[list[Finding], str | None]:
    """Fill model answers the person left open from the model file's header (theirs always win,
    except a family the header contradicts: refused unless forced, T-FAMILY). The second value is
    why the model could not be read, when it could not."""
    model = data.get("model")
    if not isinstance(model, dict) or not model.get("path"):
        return [], None
    from kohyawiz.models import family_conflict, inspect_model
    from kohyawiz.values import written_as_path

    name = str(model["path"])
    try:
        info = inspect_model(name)
    except UserError as exc:
        if written_as_path(name) and not Path(name).expanduser().exists():
            # a typo'd path must not pass unseen: sd-scripts would stop on it at the first step
            warning = f"{exc}: the run stops unless the model exists where it trains"
            return [Finding("T-BASE", "warn", warning)], str(exc)
        return [Finding("T-FAMILY", "info", f"could not inspect the model: {exc}")], str(exc)
    if info.kind == "lora":
        raise UserError("is a LoRA, not a base model: give the checkpoint to train on", where=str(model["path"]))
    findings = []
    if (conflict := family_conflict(str(model.get("family")), info, given_by)) is not None:
        if not force:
            raise UserError(f"{conflict}; name the family it is (--family {info.family}), "
                            "or plan anyway with --force", where=str(model["path"]))  # fmt: skip
        findings.append(Finding("T-FAMILY", "warn", f"planned with --force although {conflict}"))
    filled = {k: v for k, v in info.answers().items() if k not in model}
    model.update(filled)
    if filled:
        said = ", ".join(f"{k}={v}" for k, v in filled.items())
        findings.append(Finding("T-FAMILY", "info", f"from the model's header: {said} ({'; '.join(info.notes)})"))
    return findings, None


def _merge_concepts(known: Any, found: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Concepts from the folder, keeping what answers said about the same names (triggers, repeats)."""
    by_name = {c.get("name"): c for c in known or [] if isinstance(c, dict)}
    return [deep_merge(by_name.get(c["name"], {}), c) for c in found]


def _missing(exc: ValidationError) -> str | None:
    """The answer the first error says is missing, if that is what it says."""
    first = exc.errors()[0]
    return ".".join(str(p) for p in first["loc"]) if first["type"] == "missing" else None


def _answer_error(exc: ValidationError) -> str:
    first = exc.errors()[0]
    loc = ".".join(str(p) for p in first["loc"])
    if first["type"] == "missing" and loc == "model":
        loc = "model.family"  # the one required model answer
    if first["type"] == "missing":
        hint = _HINTS.get(loc, "set it in the preset")
        return f"answers.{loc} is missing: {hint}"
    return f"answers.{loc}: {first['msg']}"


def plan_from_request(request: PlanRequest) -> tuple[Plan, list[Finding]]:
    """The plan for a request, and the dataset doctor's findings when a folder was scanned.

    The plan refuses to exist while the doctor finds errors, unless the request forces it.
    """
    assembled = assemble(request)
    plan = build_plan(
        assembled.answers,
        request.out_dir,
        sizes=assembled.sizes,
        preset_overrides=assembled.preset_overrides,
        preset_where=assembled.preset_where,
        sd_scripts_version=request.sd_scripts_version,
    )
    plan.findings[:0] = assembled.inspected
    if assembled.scan is None:
        return plan, []
    answers = assembled.answers
    options = CheckOptions(
        subject=answers.subject,
        tags=answers.model.tags,
        resolution=max(parse_resolution(plan.value("resolution", "512"))),
        caption_extension=str(plan.value("caption_extension", ".caption")),
        multi_concept=answers.multi_concept,
        asymmetric=answers.asymmetric,
        max_tokens=int(plan.value("max_token_length") or 75),
    )
    findings = check_dataset(assembled.scan, options)
    errors = [f for f in findings if f.level == "error"]
    if errors and not request.force:
        where = f" ({errors[0].path})" if errors[0].path else ""
        more = f"; {len(errors) - 1} more in `kohyawiz check`" if len(errors) > 1 else ""
        raise UserError(f"{errors[0].rule}: {errors[0].message}{where}{more} (fix it, or plan anyway with --force)")
    if errors:
        plan.findings.append(Finding("D-FOLDER", "warn", f"planned with --force despite {len(errors)} dataset errors"))
    plan.findings[:0] = [f for f in findings if f.level != "error" and f.rule != "D-COUNT"]
    return plan, findings
