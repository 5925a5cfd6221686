"""From answers to a plan: every setting decided by a rule (or an override), checked against the
target sd-scripts, with the figures sd-scripts itself will print."""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from kohyawiz.answers import Answers
from kohyawiz.buckets import BucketSettings
from kohyawiz.constraints import Checker, apply_constraints
from kohyawiz.constraints.ranges import range_problem, resolution_problem
from kohyawiz.constraints.training import check_totals
from kohyawiz.decisions import Source
from kohyawiz.errors import PlanRefused, UserError
from kohyawiz.facts import Interface, load_interface
from kohyawiz.families import family_spec, swap_max
from kohyawiz.families.companions import resolve_companions
from kohyawiz.memory import Fit, FitContext, VramEstimate, estimate_vram, fit_to_budget, smallest_budget
from kohyawiz.memory.estimate import COMPANION_KEYS, VAE_KEYS, Lookup
from kohyawiz.memory.facts import CompanionFile
from kohyawiz.memory.machine import machine_for
from kohyawiz.networks import check_network_args
from kohyawiz.rules import ConceptPlan, Context, Decider, Decision, Finding, apply_rules
from kohyawiz.rules.cautions import apply_cautions
from kohyawiz.rules.processes import RULE as PROCESSES_RULE
from kohyawiz.rules.processes import bucket_findings, fixed_steps_finding, memory_finding, spread
from kohyawiz.rules.schedule import bucket_settings as settings_from
from kohyawiz.rules.schedule import count_steps, counted_in_steps, training_images
from kohyawiz.sdpaths import absolute, absolute_arg, network_option_path
from kohyawiz.values import parse_resolution

PLAN_OWNED = {
    "config_file": "kohyawiz writes config.toml and passes it itself",
    "dataset_config": "kohyawiz writes dataset.toml and passes it itself",
    "output_config": "it makes sd-scripts write a config and exit instead of training",
    "train_data_dir": "with a dataset config sd-scripts ignores it; use --dataset",
    "reg_data_dir": "with a dataset config sd-scripts ignores it",
    "in_json": "with a dataset config sd-scripts ignores it",
    "dataset_repeats": "repeats are per concept; set them in the answers",
}
_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}


def coerce_override(interface: Interface, script: str, key: str, raw: Any, where: str) -> Any:
    """An override in the shape sd-scripts needs, or a UserError that says what to write."""
    if key in PLAN_OWNED:
        raise UserError(f"{key} cannot be overridden: {PLAN_OWNED[key]}", where=where)
    fact = interface.arg(script, key)
    if fact is None:
        raise UserError(
            f"{key} is not an argument of {script} in sd-scripts {interface.version}{interface.suggest(script, key)}",
            where=where,
        )
    value = _parse_text(raw, fact.kind, fact.type) if isinstance(raw, str) else raw
    for item in value if isinstance(value, list) else [value]:
        if isinstance(item, int) and not isinstance(item, bool) and not -(2**63) <= item < 2**63:
            raise UserError(f"{key}: {item} is beyond what a TOML integer holds", where=where)
        if isinstance(item, str) and (len(item) > 4096 or "\x00" in item):
            raise UserError(f"{key}: the text is too long or holds a NUL character", where=where)
    for item in value if isinstance(value, list) else [value]:
        if isinstance(item, float) and not math.isfinite(item):
            raise UserError(f"{key}: {item} is not a number a config file can hold", where=where)
    if (out_of_range := range_problem(key, value)) is not None:
        raise UserError(f"C-RANGE: {where}: {out_of_range}")
    if key == "caption_extension" and isinstance(value, str) and (not value.strip() or any(c in value for c in "/\\*?[")):
        raise UserError(f"caption_extension {value!r} must be a suffix such as .txt: no folders, no wildcards", where=where)
    if key == "output_name" and isinstance(value, str) and not _plain_file_name(value):
        raise UserError(f"output_name {value!r} must be a plain file name: no folders, no '..'", where=where)
    if fact.type == "float" and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if fact.kind == "list" and fact.type == "float" and isinstance(value, list):
        value = [float(v) if isinstance(v, int) and not isinstance(v, bool) else v for v in value]
    problem = interface.check_arg(script, key, value)
    if problem is None and key == "resolution":
        try:
            sides = parse_resolution(value)
            if (side_problem := resolution_problem(*sides)) is not None:
                raise UserError(f"C-RANGE: {where}: {side_problem}: use sides between 64 and 8192 px")
        except ValueError:
            problem = f"resolution {value!r} must be 'N' or 'W,H', e.g. '768,768'"
    if problem:
        raise UserError(problem, where=where)
    return value


def _plain_file_name(name: str) -> bool:
    return bool(name.strip()) and name not in (".", "..") and not any(c in name for c in "/\\\x00")


def _parse_text(text: str, kind: str, type_name: str | None) -> Any:
    stripped = text.strip()
    if kind == "switch":
        if stripped.lower() in _TRUE:
            return True
        if stripped.lower() in _FALSE:
            return False
        return text
    if kind == "list":
        if stripped.startswith("["):
            try:
                return tomllib.loads(f"v = {stripped}")["v"]
            except ValueError:  # not TOML, or an integer of thousands of digits
                return text
        items = stripped.split()
        if type_name == "float":
            try:
                return [float(i) for i in items]
            except ValueError:
                return text
        return items
    try:
        if type_name == "int":
            return int(stripped)
        if type_name == "float":
            return float(stripped)
        if type_name == "number":
            return int(stripped) if stripped.lstrip("-").isdigit() else float(stripped)
    except ValueError:
        return text
    if type_name in ("str", "path") and len(stripped) >= 2 and stripped[0] == stripped[-1] == '"':
        return stripped[1:-1]
    return text


@dataclass(frozen=True)
class ConceptFigures:
    name: str
    images: int
    repeats: int
    passes_per_image: int
    image_passes_per_epoch: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "images": self.images,
            "repeats": self.repeats,
            "passes_per_image": self.passes_per_image,
            "image_passes_per_epoch": self.image_passes_per_epoch,
        }


@dataclass(frozen=True)
class Figures:
    epochs: int
    batch_size: int
    gradient_accumulation_steps: int
    processes: int
    images_with_repeats: int
    batches_per_epoch: int
    steps_per_epoch: int
    total_steps: int
    exact: bool
    """True when every image size was read, so the buckets match sd-scripts' own."""
    buckets: dict[tuple[int, int], int]
    concepts: list[ConceptFigures]
    arithmetic: list[str]

    def as_dict(self) -> dict[str, Any]:
        return {
            "epochs": self.epochs,
            "batch_size": self.batch_size,
            "gradient_accumulation_steps": self.gradient_accumulation_steps,
            "processes": self.processes,
            "images_with_repeats": self.images_with_repeats,
            "batches_per_epoch": self.batches_per_epoch,
            "steps_per_epoch": self.steps_per_epoch,
            "total_steps": self.total_steps,
            "exact": self.exact,
            "buckets": [{"resolution": list(r), "count": n} for r, n in self.buckets.items()],
            "concepts": [c.as_dict() for c in self.concepts],
            "arithmetic": self.arithmetic,
        }


@dataclass
class Plan:
    answers: Answers
    interface: Interface
    out_dir: Path
    decisions: list[Decision]
    findings: list[Finding]
    concepts: list[ConceptPlan]
    figures: Figures
    notes: dict[str, str] = field(default_factory=dict)
    vram: VramEstimate | None = None

    @property
    def script(self) -> str:
        return str(self.value("script"))

    def decision(self, key: str) -> Decision | None:
        return next((d for d in self.decisions if d.key == key), None)

    def value(self, key: str, default: Any = None) -> Any:
        found = self.decision(key)
        return default if found is None or found.value is None else found.value

    def emitted(self) -> list[Decision]:
        """sd-scripts arguments with a value, in decision order."""
        return [d for d in self.decisions if d.scope == "arg" and d.value is not None]

    def config_args(self) -> list[Decision]:
        routes = self.interface.dataset_routes
        return [d for d in self.emitted() if d.key not in routes]

    def dataset_args(self) -> list[Decision]:
        routes = self.interface.dataset_routes
        return [d for d in self.emitted() if d.key in routes]


def build_plan(
    answers: Answers,
    out_dir: Path,
    *,
    sizes: dict[str, list[tuple[int, int]]] | None = None,
    preset_overrides: dict[str, Any] | None = None,
    preset_where: str = "preset",
    sd_scripts_version: str | None = None,
) -> Plan:
    """Decide every setting for `answers`. `sizes` holds the image sizes per concept, when known."""
    interface = load_interface(sd_scripts_version)
    out_dir = out_dir.expanduser().resolve()
    spec = family_spec(answers.model.family)
    script = _trainer(interface, answers.model.family)
    answers = absolute_answers(answers)
    overrides: dict[str, tuple[Any, Source]] = {}
    refused: list[str] = []
    raw_overrides: list[tuple[str, Any, str, Source]] = [
        *((k, v, f"{preset_where}: overrides.{k}", "preset") for k, v in (preset_overrides or {}).items()
          if k not in answers.overrides),  # one set by the person replaces the preset's, good or bad
        *((k, v, f"--set {k}", "user") for k, v in answers.overrides.items()),
    ]
    for key, raw, where, source in raw_overrides:
        try:
            overrides[key] = (absolute_arg(key, coerce_override(interface, script, key, raw, where)), source)
        except UserError as exc:
            refused.append(str(exc))
    if refused:
        raise PlanRefused(refused)

    sizes = sizes or {}
    given = {key: str(value) for key, (value, _) in overrides.items()}
    companions = resolve_companions(spec, answers.model.path, given)
    header_params: dict[str, CompanionFile | None] = {}

    def decide(fit: Fit) -> tuple[Context, Checker]:
        concepts = _concept_plans(answers, sizes, out_dir)
        ctx = Context(answers, interface, Decider(overrides, dict(fit.values)), out_dir, concepts, companions=companions)
        ctx.fit_optimizer = fit.optimizer
        apply_rules(ctx)
        ctx.decider.finish()
        checker = Checker(
            ctx.decider, script, answers.model.family, interface.version,
            image_sizes=_all_sizes(concepts), network=ctx.algo,
            bucket_divisor=_bucket_divisor(interface, answers.model.family),
            max_swap=swap_max(spec, answers.model.blocks),
        )  # fmt: skip
        apply_constraints(checker)
        _drop_what_the_version_lacks(ctx, script)
        apply_cautions(ctx.decider, ctx.algo)
        return ctx, checker

    def effective(fit: Fit) -> Lookup | None:
        ctx, checker = decide(fit)
        return None if checker.refusals else ctx.decider.get

    machine = replace(machine_for(answers, spec.dit), model_bytes=_model_file_bytes(answers))

    def estimate(value: Lookup) -> VramEstimate:
        return estimate_vram(value, answers.model.family, str(value("network") or "lora"), answers.vram_gb,
                             lokr_size=answers.lokr_size, dit_params=_plausible_params(answers),
                             companions=_companion_files(value, answers.model.family, header_params),
                             machine=machine)  # fmt: skip

    fp8_arg = spec.fp8_arg if spec.dit else "fp8_base"
    room = FitContext(
        answers.model.family, answers.vram_gb, answers.optimizer is None,
        fp8_arg is not None and interface.arg(script, fp8_arg) is not None, fp8_arg or "fp8_base",
        swap_max(spec, answers.model.blocks),
        # The trainer's own remedies for the text-encoder caching pass (HunyuanImage's doc).
        "fp8_vl" if spec.dit and interface.arg(script, "fp8_vl") is not None else None,
        "text_encoder_cpu" if spec.dit and interface.arg(script, "text_encoder_cpu") is not None else None,
    )  # fmt: skip
    fit, vram = fit_to_budget(effective, estimate, room)
    ctx, checker = decide(fit)
    concepts = ctx.concepts
    vram = replace(estimate(ctx.decider.get), steps=list(fit.steps))
    decisions = list(ctx.decider.decisions.values())
    findings = list(ctx.decider.findings) + checker.refusals + _vram_findings(vram, answers.model.family, ctx.decider.get)
    if not any(c.folder for c in answers.concepts):
        findings.append(Finding("D-FOLDER", "info", f"no image folders yet: image_dir points to {out_dir / 'images'}"))
    plan = Plan(answers, interface, out_dir, decisions, findings, concepts, _no_figures(), dict(ctx.notes), vram)
    _validate(plan)
    plan.figures = compute_figures(plan)
    check_totals(checker, plan.figures.total_steps)
    plan.findings += checker.refusals + _process_findings(plan)
    if checker.refusals or any(f.level == "error" and f.rule == PROCESSES_RULE for f in plan.findings):
        _validate(plan)
    return plan


def _process_findings(plan: Plan) -> list[Finding]:
    """K-PROCESSES: counted in epochs, every bucket fills every process, memory per card."""
    gpus, nodes, figures = plan.answers.gpus, plan.answers.nodes, plan.figures
    out: list[Finding] = []
    steps = plan.decision("max_train_steps")
    if steps is not None and steps.value is not None and plan.value("max_train_epochs") is None:
        found = fixed_steps_finding(int(steps.value), steps.source, gpus, nodes, figures.batches_per_epoch,
                                figures.gradient_accumulation_steps)  # fmt: skip
        out += [found] if found else []
    out += bucket_findings(figures.buckets, figures.batch_size, gpus, nodes)
    if plan.vram is not None and (memory := memory_finding(plan.vram.estimate_gb, gpus, nodes)):
        out.append(memory)
    return out


def _trainer(interface: Interface, family: str) -> str:
    spec = family_spec(family)
    if not interface.has_script(spec.script):
        raise UserError(
            f"sd-scripts {interface.version} has no {spec.script}, so it cannot train {spec.label} LoRAs: "
            "plan for sd-scripts main (--sd-scripts-version main) or learn a newer checkout"
        )
    return spec.script


def check_override(key: str, raw: Any, family: str, sd_scripts_version: str | None = None) -> Any:
    """One override checked on its own key, before any plan is built: the family's trainer in the
    target sd-scripts must have the argument and accept the value (what `--set KEY=VALUE` passes).
    A face keeps an override that passes even while the plan still fails for other reasons."""
    interface = load_interface(sd_scripts_version)
    return coerce_override(interface, _trainer(interface, family), key, raw, f"--set {key}")


def absolute_answers(answers: Answers) -> Answers:
    """The model path and image folders as sd-scripts will need them: absolute, from the folder
    kohyawiz runs in (sd-scripts runs in its own checkout). A Hugging Face id stays as it is."""
    model = answers.model
    path = absolute_arg("pretrained_model_name_or_path", model.path) if model.path else model.path
    concepts = [c.model_copy(update={"folder": absolute(c.folder)}) if c.folder else c for c in answers.concepts]
    options = {k: network_option_path(k, v) for k, v in answers.network_options.items()}
    if path == model.path and concepts == answers.concepts and options == answers.network_options:
        return answers
    return answers.model_copy(
        update={"model": model.model_copy(update={"path": path}), "concepts": concepts, "network_options": options}
    )


def _plausible_params(answers: Answers) -> int | None:
    """The header's parameter count when it describes a whole model (SD3 medium is a third of
    large); a header-only or partial file falls back to the family's own count."""
    from kohyawiz.memory.facts import dit_facts
    from kohyawiz.safetensors_header import holds_tensor_data

    facts, params = dit_facts(answers.model.family), answers.model.params
    if not (facts and params):
        return None
    if params >= 0.2 * int(facts["dit"]):
        return params
    path = answers.model.path
    # a small file that holds its weights is the model that will be loaded (a random test model)
    return params if path and Path(path).expanduser().is_file() and holds_tensor_data(Path(path).expanduser()) else None


def _companion_files(value: Lookup, family: str, known: dict[str, CompanionFile | None]) -> dict[str, CompanionFile]:
    """The companion files a DiT plan names, from their headers: parameters and stored dtype (a
    header that is missing or too small to be the real model counts as the usual file, at the
    header's dtype); `known` keeps each file's reading for the rest of the plan's memory ladder."""
    from kohyawiz.memory.facts import companion_default
    from kohyawiz.models import tensor_summary
    from kohyawiz.safetensors_header import read_safetensors_header

    files: dict[str, CompanionFile] = {}
    for key in (*COMPANION_KEYS, *VAE_KEYS):
        path = value(key)
        if not isinstance(path, str):
            continue
        if path not in known:
            try:
                summary = tensor_summary(read_safetensors_header(Path(path).expanduser()))
            except (UserError, OSError):
                summary = None
            known[path] = CompanionFile(*summary) if summary else None
        usual = companion_default(key, family)
        found = known[path]
        if found is None:
            files[key] = usual
        elif found.params < 0.2 * usual.params and not _holds_data(path):
            files[key] = CompanionFile(usual.params, found.dtype_bytes)
        else:
            files[key] = found
    return files


def _model_file_bytes(answers: Answers) -> int | None:
    """Bytes per parameter the model file stores (an fp8 Flux file loads as 1), from its header."""
    from kohyawiz.models import tensor_summary
    from kohyawiz.safetensors_header import read_safetensors_header

    path = Path(answers.model.path).expanduser() if answers.model.path else None
    if path is None or path.suffix != ".safetensors" or not path.is_file():
        return None
    try:
        summary = tensor_summary(read_safetensors_header(path))
    except (UserError, OSError):
        return None
    return summary[1] if summary else None


def _holds_data(path: str) -> bool:
    from kohyawiz.safetensors_header import holds_tensor_data

    return Path(path).expanduser().is_file() and holds_tensor_data(Path(path).expanduser())


def _drop_what_the_version_lacks(ctx: Context, script: str) -> None:
    """A rule's argument the target sd-scripts does not have (a learned checkout may lack one) is
    left out and said; an argument set by hand is still refused by the facts check."""
    version = ctx.interface.version
    for key, decision in list(ctx.decider.decisions.items()):
        if decision.scope != "arg" or decision.value is None or decision.source != "rule":
            continue
        if ctx.interface.arg(script, key) is None:
            ctx.decider.decisions[key] = Decision(
                key, None, decision.rule, f"{decision.reason}; left out: sd-scripts {version} has no {key}"
            )
            ctx.decider.info(decision.rule, f"{key} left out: sd-scripts {version} does not have it")


def _concept_plans(answers: Answers, sizes: dict[str, list[tuple[int, int]]], out_dir: Path) -> list[ConceptPlan]:
    concepts = []
    for concept in answers.concepts:
        known = sizes.get(concept.name)
        images = concept.images if concept.images is not None else len(known or [])
        folder = (
            Path(concept.folder).expanduser().resolve()
            if concept.folder
            else out_dir / "images" / f"{concept.folder_repeats or 1}_{concept.name}"
        )
        concepts.append(ConceptPlan(concept.name, list(concept.triggers), images, folder, sizes=known))
    return concepts


# What to use instead when an encoder's own file is what does not fit the caching pass.
SMALLER_FILES = {"t5xxl": "an fp8 T5-XXL (t5xxl_fp8_e4m3fn.safetensors from comfyanonymous/flux_text_encoders)"}


def _smaller_file(family: str, arg: str, value: Lookup) -> str:
    """What to pass instead of a 16-bit encoder file: the 8-bit one lying beside it when there is one."""
    from kohyawiz.families import family_spec
    from kohyawiz.families.companions import eight_bit_sibling

    companion = next((c for c in family_spec(family).companions if c.arg == arg), None)
    current = value(arg)
    if companion is not None and isinstance(current, str) and current.strip():
        sibling = eight_bit_sibling(Path(current).expanduser(), companion)
        if sibling is not None:
            return f"the 8-bit one is beside it: pass --set {arg}={sibling}"
    return f"pass {SMALLER_FILES[arg]} with --set {arg}=PATH"


def _vram_findings(vram: VramEstimate, family: str, value: Lookup) -> list[Finding]:
    out = []
    if vram.steps:
        out.append(Finding("K-VRAM", "info", f"to fit {vram.budget_gb:g} GB: {'; '.join(vram.steps)}"))
    reserve = f"{vram.reserve_gb:g} GB kept free (K-RESERVE)"
    if vram.correction:
        out.append(Finding("K-MEASURED", "info", f"estimate x{vram.correction:g} from {vram.correction_from}"))
    phase = vram.phase.replace("_", " ")
    if vram.tight:
        out.append(Finding("K-RESERVE", "warn",
                           f"tight: the {phase} phase needs about {vram.estimate_gb:.1f} GB of the {vram.budget_gb:g} GB "
                           f"card, inside the {reserve}; close other programs on the GPU or lower resolution or rank"))  # fmt: skip
    if not vram.fits and not vram.tight:
        need = smallest_budget(vram.estimate_gb + vram.reserve_gb)
        tried = f" even with {' + '.join(vram.steps)}" if vram.steps else ""
        big = _too_big_encoder(vram, value)
        if big is not None:
            instead = _smaller_file(family, big, value)
            message = (f"the text-encoder caching pass needs about {vram.phases[vram.phase]:.1f} GB of VRAM{tried}, more "
                       f"than the {vram.budget_gb:g} GB card: {big} is stored in 16 bits; {instead}, "
                       f"or plan for {_card(need)}")  # fmt: skip
        elif vram.phase == "text_encoder_caching":
            message = (f"the text-encoder caching pass puts the text encoders on the card: about "
                       f"{vram.estimate_gb:.1f} GB of VRAM{tried}, more than the {vram.budget_gb:g} GB card, and no "
                       f"setting lowers it; plan for {_card(need)}")  # fmt: skip
        else:
            message = (f"this run needs about {vram.estimate_gb:.1f} GB of VRAM in its {phase} phase{tried}, more than "
                       f"the {vram.budget_gb:g} GB card: it would run out of memory. It fits {_card(need)}; "
                       "or lower what you set by hand (resolution, network_dim, batch size)")  # fmt: skip
        out.append(Finding("K-VRAM", "error", message))
    ram = vram.ram
    if ram is not None and not ram.fits and ram.machine_gb is not None:
        # Only a machine the person named refuses the plan: the one read here may not be the one that
        # trains (a plan exported to a rented GPU or a cluster, a container's view of /proc/meminfo).
        out.append(Finding("K-RAM", "error" if ram.source == "given" else "warn", _ram_refusal(ram, vram.steps)))
    return out


def _card(need: int) -> str:
    """The card to plan for instead, or that none can be named (answers take MAX_VRAM_GB at most)."""
    from kohyawiz.answers import MAX_VRAM_GB

    if need > MAX_VRAM_GB:
        return f"no single card: about {need} GB, past the {MAX_VRAM_GB} GB a plan can name"
    return f"a card of about {need} GB (--vram {need})"


def _ram_refusal(ram: Any, steps: list[str]) -> str:
    """One line: what needs the memory, against which machine, and what to do."""
    machine = (f"this machine's {ram.machine_gb:g} GB (read from /proc/meminfo; --ram GB plans for the machine "
               "that trains, and refuses what does not fit it)" if ram.source == "read"
               else f"the {ram.machine_gb:g} GB of RAM given")  # fmt: skip
    tried = [s for s in steps if "RAM" in s]
    if ram.phase == "loading":
        why = "loading reads the model files to the CPU at their stored dtype before they move to the GPU"
        todo = "use fp8 model files (the DiT and T5-XXL) or a machine with more RAM"
    else:
        why = f"its {ram.phase.replace('_', ' ')} phase keeps swapped blocks, the text encoders and cached data in RAM"
        todo = "swap fewer blocks on a larger card, or use a machine with more RAM"
    done = f" even with {'; '.join(tried)}" if tried else ""
    return f"this run needs about {ram.estimate_gb:.0f} GB of system memory, more than {machine}: {why}{done}; {todo}"


def _too_big_encoder(vram: VramEstimate, value: Lookup) -> str | None:
    """The 16-bit encoder file that makes the caching pass the deciding phase, when a smaller file exists."""
    if vram.phase != "text_encoder_caching":
        return None
    return next((arg for arg in SMALLER_FILES if isinstance(value(arg), str) and vram.encoder_bytes.get(arg) == 2), None)


def _all_sizes(concepts: list[ConceptPlan]) -> list[tuple[int, int]] | None:
    if any(c.sizes is None or len(c.sizes) != c.images for c in concepts):
        return None
    return [size for c in concepts for size in c.sizes or []]


def _bucket_divisor(interface: Interface, family: str) -> int:
    """What bucket_reso_steps must divide by: the trainer's own verify_bucket_reso_steps (older
    versions, whose divisor is 1, checked nothing)."""
    divisor = interface.info.bucket_reso_steps_divisor
    return divisor if divisor <= 1 else family_spec(family).bucket_multiple


def _no_figures() -> Figures:
    return Figures(0, 1, 1, 1, 0, 0, 0, 0, False, {}, [], [])


def _validate(plan: Plan) -> None:
    problems = [f"{f.rule}: {f.message}" for f in plan.findings if f.level == "error"]
    for decision in plan.emitted():
        problem = plan.interface.check_arg(plan.script, decision.key, decision.value)
        if problem:
            problems.append(f"{problem} (from {decision.source}, {decision.rule})")
    module = plan.value("network_module")
    args = plan.value("network_args") or []
    if module:
        problems += [f"network_args: {p}" for p in check_network_args(str(module), [str(a) for a in args])]
    if int(plan.value("train_batch_size", 1)) < 1:
        problems.append("train_batch_size must be at least 1")
    if problems:
        raise PlanRefused(problems)


def bucket_settings(plan: Plan) -> BucketSettings:
    return settings_from(plan.value)


def _passes(repeats: int, epochs: int, total: int, with_repeats: int, by_steps: bool, per_step: int) -> int:
    """Passes over each image: repeats x epochs; a run counted in steps stops inside an epoch, so
    there it is the images the steps draw (batch x processes x accumulation each), shared by repeats."""
    if not by_steps or with_repeats <= 0:
        return repeats * epochs
    return round(total * per_step * repeats / with_repeats)


def compute_figures(plan: Plan) -> Figures:
    """Steps as sd-scripts counts them: buckets of (image x repeats), batches per bucket,
    then ceil(batches / processes / accumulation) per epoch."""
    settings = bucket_settings(plan)
    processes, accumulation = plan.answers.processes, int(plan.value("gradient_accumulation_steps", 1))
    epochs_by_hand = (found := plan.decision("max_train_epochs")) is not None and found.source != "rule"
    try:
        count = count_steps(plan.value, plan.concepts, processes, by_steps=counted_in_steps(plan.value, epochs_by_hand))
    except ValueError as exc:
        raise UserError(str(exc)) from exc
    counted, exact, steps_per_epoch = count.counted, count.exact, count.steps_per_epoch
    epochs, total, set_epochs = count.epochs, count.total, None if count.by_steps else count.epochs
    split = float(plan.value("validation_split", 0.0) or 0.0)
    with_repeats = sum(training_images(c.images, split) * c.repeats for c in plan.concepts)
    per_step = settings.batch_size * processes * accumulation  # images one optimizer step draws
    concepts = [
        ConceptFigures(c.name, c.images, c.repeats,
                       _passes(c.repeats, epochs, total, with_repeats, count.by_steps, per_step), c.images * c.repeats)
        for c in plan.concepts
    ]  # fmt: skip
    lines = [
        f"{c.name}: {c.images} images x {c.repeats} repeats = {c.image_passes_per_epoch} per epoch; "
        + (f"{total} steps x {per_step} images each x {c.repeats} / {with_repeats} = about {c.passes_per_image} "
           "passes per image" if count.by_steps else f"x {epochs} epochs = {c.passes_per_image} passes per image")
        for c in concepts
    ]  # fmt: skip
    if split:
        kept = ", ".join(f"{c.name} {training_images(c.images, split)} of {c.images}" for c in plan.concepts)
        lines.append(f"validation_split {split:g}: images kept for training: {kept} (K-VALIDATE)")
    lines.append(f"images x repeats per epoch: {with_repeats}")
    if exact and settings.enable_bucket:
        per_bucket = ", ".join(f"{w}x{h}: ceil({n}/{settings.batch_size})" for (w, h), n in counted.buckets.items())
        lines.append(f"batches per epoch, bucket by bucket: {per_bucket} = {counted.batches}")
    else:
        lines.append(f"batches per epoch: ceil({with_repeats} / batch {settings.batch_size}) = {counted.batches}")
        if not exact:
            lines.append("(image sizes unknown: one bucket assumed; buckets can add a few batches)")
    lines.append(
        f"steps per epoch: ceil({counted.batches} / {spread(plan.answers.gpus, plan.answers.nodes)} / "
        f"{accumulation} accumulation) = {steps_per_epoch}"
    )
    if set_epochs is None:
        lines.append(f"total steps: max_train_steps {total}, over ceil({total} / {steps_per_epoch}) = {epochs} epochs")
    else:
        lines.append(f"total steps: {epochs} epochs x {steps_per_epoch} = {total}")
    return Figures(
        epochs, settings.batch_size, accumulation, processes, with_repeats, counted.batches, steps_per_epoch,
        total, exact, counted.buckets, concepts, lines,
    )  # fmt: skip
