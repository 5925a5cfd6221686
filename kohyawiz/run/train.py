"""`kohyawiz train`: preflight, launch through accelerate, parse the log, keep a record."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kohyawiz.dataset.doctor import CheckOptions, check_folders
from kohyawiz.door import present, read_json, read_toml
from kohyawiz.errors import UserError
from kohyawiz.families import SPECS, trainer_scripts
from kohyawiz.loss import detect_loss_shift
from kohyawiz.run import logparse
from kohyawiz.run.gpu import detect_gpus
from kohyawiz.run.peaks import Peaks, PeakSampler, learn_ratio, memory_record, write_memory_record
from kohyawiz.run.process import StopRequest, capture, run_streaming
from kohyawiz.run.records.history import TENSORBOARD_DIR
from kohyawiz.run.records.ledger import ResumePoint, newest_state, segments_for, state_path, write_start
from kohyawiz.run.records.record import RunRecord, kohyawiz_home, metadata_mismatches, safetensors_metadata
from kohyawiz.run.renumber import Renumbering, counter_lag, recover
from kohyawiz.run.sdscripts.locate import SdScripts
from kohyawiz.sdpaths import CREATED_ARGS, PATH_ARGS, absolute, is_local, looks_local

MIN_FREE_BYTES = 2 * 1024**3


@dataclass
class PlanFolder:
    folder: Path
    plan: dict[str, Any]
    config: dict[str, Any]
    dataset: dict[str, Any]

    @classmethod
    def load(cls, folder: Path) -> PlanFolder:
        folder = folder.expanduser().resolve()
        plan_path = folder / "plan.json"
        if not plan_path.is_file():
            raise UserError("no plan.json here: write a plan with `kohyawiz plan --out DIR`", where=str(folder))
        plan = read_json(plan_path, "plan.json")
        config = read_toml(folder / "config.toml", "plan's config.toml")
        dataset = read_toml(folder / "dataset.toml", "plan's dataset.toml")
        if not isinstance(plan, dict) or not isinstance(plan.get("script"), str):
            raise UserError("plan.json is damaged (no script): re-plan it", where=str(plan_path))
        if (problem := _trainer_problem(plan)) is not None:
            raise UserError(problem, where=str(plan_path))
        if not _plain_launch_args(plan.get("accelerate_args")):
            raise UserError("plan.json's accelerate_args are not the ones kohyawiz writes: re-plan it",
                            where=str(plan_path))  # fmt: skip
        return cls(folder, plan, config, dataset)

    @property
    def written_in(self) -> Path | None:
        """The folder the plan was written in, as plan.json recorded it."""
        args = self.plan.get("script_args")
        if isinstance(args, list) and "--config_file" in args[:-1]:
            return Path(str(args[args.index("--config_file") + 1])).parent
        return None

    @property
    def moved_from(self) -> Path | None:
        """Where the plan was written, when it has been copied or moved since."""
        written = self.written_in
        return written if written is not None and written != self.folder else None

    def reanchor(self) -> list[str]:
        """Point the plan's own paths (output, logs, samples, LyCORIS preset, its config files) at
        the folder it is in now. Files are rewritten atomically; the names of what changed come back."""
        from kohyawiz.files import write_atomic

        old = self.moved_from
        if old is None:
            return []
        changed = []
        for name, quote in (("config.toml", _toml_text), ("dataset.toml", _toml_text), ("plan.json", _json_text)):
            path = self.folder / name
            text = path.read_text(encoding="utf-8")
            updated = _repoint(text, quote(str(old)), quote(str(self.folder)))
            if updated != text:
                write_atomic(path, updated)
                changed.append(name)
        reloaded = PlanFolder.load(self.folder)
        self.plan, self.config, self.dataset = reloaded.plan, reloaded.config, reloaded.dataset
        return changed

    def outside_paths(self) -> list[tuple[str, Path]]:
        """Paths the plan names outside its own folder: the model and the image folders."""
        out: list[tuple[str, Path]] = []
        model = self.arg("pretrained_model_name_or_path")
        if model and looks_local(str(model)):
            out.append(("base model", Path(str(model)).expanduser()))
        out += [("image folder", d) for d in self.image_dirs()]
        return [(what, p) for what, p in out if self.folder not in p.parents]

    @property
    def machines(self) -> int:
        """accelerate's --num_machines in the plan's launch."""
        args = self.plan.get("accelerate_args") or []
        if "--num_machines" in args[:-1]:
            value = str(args[args.index("--num_machines") + 1])
            return int(value) if value.isdigit() else 1
        return 1

    def planned_count(self, key: str, default: int) -> int:
        """A whole-number answer of plan.json (gpus, nodes), or `default` when plan.json, which may
        be anyone's, holds no such number there (`"answers": true`, `"gpus": "x"`)."""
        answers = self.plan.get("answers")
        value = answers.get(key, default) if isinstance(answers, dict) else default
        return value if isinstance(value, int) and not isinstance(value, bool) and 0 < value <= 4096 else default

    def foreign_values(self) -> list[str]:
        """The folder's own files across the trust boundary (kohyawiz/trust.py), as they will be
        once its paths are pointed at where it is now: what sends the run or a credential
        elsewhere, and paths outside the folder this person never named, come back refused."""
        from kohyawiz.trust import foreign_refusals

        old = self.moved_from

        def here(value: Any) -> Any:
            if old is None:
                return value
            text = _repoint(json.dumps(value), _json_text(str(old)), _json_text(str(self.folder)))
            return json.loads(text)

        tables: list[tuple[str, dict[str, Any]]] = [("config.toml ", self.flat_config())]
        general = self.dataset.get("general")
        tables.append(("dataset.toml ", general if isinstance(general, dict) else {}))
        for dataset in _dicts(self.dataset.get("datasets")):
            tables.append(("dataset.toml ", {k: v for k, v in dataset.items() if k != "subsets"}))
            tables += [("dataset.toml ", subset) for subset in _dicts(dataset.get("subsets"))]
        refused: list[str] = []
        for prefix, table in tables:
            values = {str(k): here(v) for k, v in table.items()}
            found = foreign_refusals(values, inside=[self.folder], trust_named=True, scope=self.folder, prefix=prefix)
            refused += [r.line() for r in found if r.line() not in refused]
        return refused + self.links_out()

    def links_out(self) -> list[str]:
        """Images and captions in the plan's image folders that are links leading out of them:
        sd-scripts would read through them (a caption `a.txt -> ~/.ssh/id_rsa` ends up in the
        LoRA's tag metadata), so they are refused like a path out."""
        from kohyawiz.door import link_out

        found: list[str] = []
        for folder in self.image_dirs():
            try:
                entries = sorted(os.scandir(folder), key=lambda e: e.name)
            except (OSError, ValueError):
                continue  # a missing folder is named by the preflight
            for entry in entries:
                target = link_out(Path(entry.path), folder)
                if target is not None:
                    found.append(f"{entry.path} is a link that leads out of its image folder (to {target})")
        return found

    def check_trust(self) -> None:
        """Refuse, in one line saying what, a plan folder that carries what only this person's own
        command line may set."""
        refused = self.foreign_values()
        if refused:
            more = f" (and {len(refused) - 12} more)" if len(refused) > 12 else ""
            raise UserError(
                f"refused: {'; '.join(refused[:12])}{more}. Only your own command line sends a run elsewhere or names "
                "paths outside the plan folder: re-plan it (kohyawiz plan --preset "
                f"{self.folder / 'preset.toml'} --model ... --dataset ...)",
                where=str(self.folder),
            )

    def flat_config(self) -> dict[str, Any]:
        """config.toml's keys, its sections flattened (sd-scripts reads them so)."""
        flat: dict[str, Any] = {}
        for key, value in self.config.items():
            if isinstance(value, dict):
                flat.update({str(k): v for k, v in value.items()})
            else:
                flat[str(key)] = value
        return flat

    def path_args(self) -> list[tuple[str, Any]]:
        """The config's arguments that name files or folders, with their values as written."""
        return [(key, value) for key, value in self.flat_config().items() if key in PATH_ARGS]

    def arg(self, key: str, default: Any = None) -> Any:
        for section in self.config.values():
            if isinstance(section, dict) and key in section:
                return section[key]
        return self.config.get(key, default)

    def config_args(self) -> dict[str, Any]:
        """config.toml's arguments, flat, as sd-scripts reads them (its sections only group them)."""
        flat: dict[str, Any] = {}
        for key, value in self.config.items():
            flat.update(value if isinstance(value, dict) else {key: value})
        return flat

    def image_dirs(self) -> list[Path]:
        return [
            Path(str(s["image_dir"]))
            for d in _dicts(self.dataset.get("datasets"))
            for s in _dicts(d.get("subsets"))
            if isinstance(s.get("image_dir"), str)
        ]


def _dicts(value: Any) -> list[dict[str, Any]]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _trainer_problem(plan: dict[str, Any]) -> str | None:
    """Why `train` would not launch the plan's script: it launches only the trainers the families
    plan for, and a family's plan only with that family's own trainer."""
    script = plan["script"]
    if script not in trainer_scripts():
        known = ", ".join(trainer_scripts())
        return f"plan.json names {script!r}, not a trainer kohyawiz knows ({known}): re-plan it"
    answers = plan.get("answers")
    model = answers.get("model") if isinstance(answers, dict) else None
    family = model.get("family") if isinstance(model, dict) else None
    if isinstance(family, str) and family in SPECS and SPECS[family].script != script:
        return f"plan.json names {script!r} for a {family} model, whose trainer is {SPECS[family].script}: re-plan it"
    return None


_ACCELERATE_VALUES = ("--num_cpu_threads_per_process", "--num_processes", "--num_machines", "--mixed_precision")
_ACCELERATE_SWITCHES = ("--multi_gpu",)


def _plain_launch_args(args: object) -> bool:
    """Only the accelerate options kohyawiz writes, each with a plain value."""
    if not isinstance(args, list) or not all(isinstance(a, str) for a in args):
        return False
    index = 0
    while index < len(args):
        if args[index] in _ACCELERATE_SWITCHES:
            index += 1
        elif args[index] in _ACCELERATE_VALUES and index + 1 < len(args) and args[index + 1].isalnum():
            index += 2
        else:
            return False
    return True


def _toml_text(path: str) -> str:
    return json.dumps(path, ensure_ascii=False)[1:-1]


def _json_text(path: str) -> str:
    return json.dumps(path)[1:-1]


def _repoint(text: str, old: str, new: str) -> str:
    """`old` as a whole path (or a path's leading folder) at the start of a quoted string, or after
    `key=` inside one (network_args), becomes `new`."""
    pattern = re.compile(r'(?<=["=])' + re.escape(old) + r'(?=["/\\])')
    return pattern.sub(lambda _m: new, text)


@dataclass
class Preflight:
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def from_root(path: Path, root: Path) -> Path:
    """A path as sd-scripts sees it: a relative one is looked for in `root`, the folder it runs in."""
    path = path.expanduser()
    return path if path.is_absolute() else root / path


_LABELS = {"pretrained_model_name_or_path": "the base model"}


def path_problems(plan: PlanFolder, root: Path) -> list[str]:
    """Every file and folder the plan's config names, looked for from `root`, where sd-scripts runs
    (what sd-scripts creates itself, output and log folders, may be missing)."""
    problems = []
    for key, value in plan.path_args():
        for item in value if isinstance(value, list) else [value]:
            if not is_local(key, item, root):
                continue
            typed = Path(str(item)).expanduser()
            if key in CREATED_ARGS or present(from_root(typed, root)):
                continue
            what = f"{_LABELS.get(key, key)} {item}"
            if typed.is_absolute():
                problems.append(f"{what} does not exist")
            elif present(typed):
                problems.append(f"{what} is relative: sd-scripts runs in {root}, where it does not exist; "
                                f"write {absolute(str(item))} in config.toml, or re-plan")  # fmt: skip
            else:
                problems.append(f"{what} does not exist (relative paths are looked for in {root}, where sd-scripts runs)")
    return problems


def preflight(plan: PlanFolder, sd: SdScripts, *, check_python: bool = True, here: bool = True) -> Preflight:
    """What would stop the run, checked before it starts. `here` is False for a launch on other
    machines (an sbatch script): their GPUs and their number are theirs."""
    result = Preflight()
    if plan.moved_from is not None:
        result.warnings.append(
            f"the plan was written in {plan.moved_from}: training points its own paths (output, logs, samples, "
            f"presets) at {plan.folder} first"
        )
    gone = [f"{what} {path}" for what, path in plan.outside_paths() if not present(path)]
    if gone and plan.written_in is not None and plan.written_in != plan.folder:
        result.errors.append(f"this plan moved from {plan.written_in}; these no longer exist: {', '.join(gone)}")
    if (warning := sd.warning()) is not None:
        result.warnings.append(warning)
    if (machines := plan.machines) > 1 and here:
        result.errors.append(
            f"this plan trains on {machines} machines together, which one launch here cannot start: "
            f"`kohyawiz export {plan.folder} --slurm` or `--skypilot` launches it on each machine"
        )
    if here and not detect_gpus() and plan.arg("mixed_precision", "no") != "no":
        result.warnings.append(
            "no NVIDIA GPU found: training would run on the CPU, very slowly; on a CPU re-plan with "
            "--set mixed_precision=no --set save_precision=float"
        )
    planned_for = str(plan.plan.get("sd_scripts_version"))
    learned_here = planned_for.startswith("learned-") and planned_for == _learned_id(sd)
    if planned_for != sd.version.id and not learned_here:
        result.warnings.append(
            f"the plan targets sd-scripts {plan.plan.get('sd_scripts_version')}, the checkout is {sd.version.id}: re-plan with --sd-scripts-version {sd.version.id}"
        )
    script = sd.root / str(plan.plan.get("script", "train_network.py"))
    if not script.is_file():
        result.errors.append(f"{script} is missing")
    if not plan.arg("pretrained_model_name_or_path"):
        result.errors.append("the plan has no base model: re-plan with --model PATH")
    result.errors += path_problems(plan, sd.root)
    folders = [(from_root(d, sd.root), d.name.partition("_")[2] or d.name) for d in plan.image_dirs()]
    for problem in check_folders(
        folders,
        CheckOptions(caption_extension=str(plan.dataset.get("general", {}).get("caption_extension", ".caption"))),
    ):
        if problem.level == "error":
            result.errors.append(f"{problem.rule}: {problem.message}" + (f" ({problem.path})" if problem.path else ""))
    output = from_root(Path(str(plan.arg("output_dir", plan.folder / "output"))), sd.root)
    try:
        output.mkdir(parents=True, exist_ok=True)
        probe = output / ".kohyawiz-write-test"
        probe.write_text("")
        probe.unlink()
        if shutil.disk_usage(output).free < MIN_FREE_BYTES:
            result.warnings.append(f"less than 2 GB free in {output}")
    except OSError as exc:
        result.errors.append(f"cannot write to {output}: {exc.strerror}")
    if check_python:
        code, out = capture([str(sd.python), "-c", "import accelerate"], cwd=sd.root)
        if code != 0:
            result.errors.append(
                f"accelerate is not importable by {sd.python}: install sd-scripts' requirements there ({out.strip()[-200:]})"
            )
        elif not result.errors:
            checked = parser_check(plan, sd)
            result.errors += checked.problems
            if checked.not_asked is not None:
                result.warnings.append(
                    f"sd-scripts' own parser could not be asked ({checked.not_asked}): the plan is checked "
                    "against kohyawiz's facts for this version only"
                )
    return result


def _learned_id(sd: SdScripts) -> str:
    from kohyawiz.learned import tree_key

    return f"learned-{tree_key(sd.root, sd.commit)}"


@dataclass
class ParserCheck:
    problems: list[str] = field(default_factory=list)
    not_asked: str | None = None
    """Why sd-scripts' own parser or dataset validator could not be asked, when it could not."""


def parser_check(plan: PlanFolder, sd: SdScripts) -> ParserCheck:
    """The plan through sd-scripts' own parser and dataset validator, in its own environment."""
    probe = Path(__file__).resolve().parent / "sdscripts" / "sd_probe.py"
    code, out = capture([str(sd.python), str(probe), str(plan.folder)], cwd=sd.root, timeout_s=300)
    lines = [line for line in out.splitlines() if line.startswith("{")]
    if not lines:
        tail = out.strip().splitlines()[-1:] or ["no output"]
        return ParserCheck([f"sd-scripts' parser could not be loaded by {sd.python} (exit {code}): {tail[0][:200]}"])
    try:
        result = json.loads(lines[-1])
    except ValueError:
        return ParserCheck([f"unreadable answer from the parser check: {lines[-1][:200]}"])
    skipped = result.get("skipped")
    return ParserCheck([f"sd-scripts' own check: {p}" for p in result.get("problems", [])],
                       str(skipped) if skipped else None)  # fmt: skip


def parser_problems(plan: PlanFolder, sd: SdScripts) -> list[str]:
    return parser_check(plan, sd).problems


_DISK_STATE = re.compile(r"-(?:(\d{6})|step(\d{8}))-state$")


def output_dir(plan: PlanFolder) -> Path:
    return Path(str(plan.arg("output_dir", plan.folder / "output")))


def resume_point(plan: PlanFolder) -> ResumePoint:
    """The newest complete saved state and the run's step it holds: from the ledger of this plan's
    records; else from a state folder's name (an epoch's state holds epoch x steps per epoch)."""
    point = newest_state(plan.folder)
    if point is not None:
        total = plan.plan.get("figures", {}).get("total_steps")
        if isinstance(total, int) and point.step >= total > 0:
            raise UserError(f"the run already trained all {total} steps (state {point.state.name}): nothing to resume")
        return point
    output = output_dir(plan)
    if any(segment.states for segment in segments_for(plan.folder)):
        raise UserError(
            "the only states this plan's runs saved were cut off while being written, or are gone: "
            "train it again from the start (`kohyawiz train DIR`)",
            where=str(output),
        )
    per_epoch = plan.plan.get("figures", {}).get("steps_per_epoch")
    found = []
    for folder in (p for p in output.glob("*-state") if p.is_dir()):
        match = _DISK_STATE.search(folder.name)
        if match and match.group(1) and isinstance(per_epoch, int) and per_epoch > 0:
            found.append(ResumePoint(folder, int(match.group(1)) * per_epoch, int(match.group(1)), None, "its name"))
        elif match and match.group(2):
            found.append(ResumePoint(folder, int(match.group(2)), None, None, "its name"))
    if not found:
        advice = (
            "train it first (`kohyawiz train DIR`): a state is saved with each checkpoint"
            if plan.arg("save_state")
            else "this plan saves no state: re-plan with --save-state"
        )
        raise UserError(f"no saved state to resume from whose step kohyawiz knows; {advice}", where=str(output))
    return max(found, key=lambda point: point.step)


def resume_overrun(plan: PlanFolder, point: ResumePoint) -> int:
    """Steps sd-scripts will train past the plan after this resume: a run counted in steps stops
    when sd-scripts' counter reaches max_train_steps, and past the first epoch that counter trails
    the run's (kohyawiz.run.renumber), so it ends with its last epoch instead."""
    figures = plan.plan.get("figures", {})
    per_epoch, total, epochs = figures.get("steps_per_epoch"), figures.get("total_steps"), figures.get("epochs")
    if plan.arg("max_train_epochs") or not all(isinstance(v, int) and v > 0 for v in (per_epoch, total, epochs)):
        return 0
    accumulation = int(plan.arg("gradient_accumulation_steps", 1) or 1)
    if not counter_lag(point.step, per_epoch, accumulation):
        return 0
    return max(0, epochs * per_epoch - total)


def resume_args(point: ResumePoint, sd: SdScripts, accumulation: int) -> list[str]:
    """What makes the checkout continue the run's count (train_network.py): --initial_step is
    preferred over train_state.json (which holds the resumed process's own count, not the run's);
    --skip_until_initial_step skips the batches the state already trained, but sd-scripts
    multiplies the step by the accumulation before dividing by steps per epoch, so with gradient
    accumulation only the epoch is skipped."""
    from kohyawiz.facts import load_interface

    interface = load_interface(sd.version.id)
    if interface.arg("train_network.py", "initial_step") is None:
        raise UserError(
            f"sd-scripts {sd.version.id} cannot continue a run's count (it has no --initial_step): a resumed run "
            "would start again at epoch 1 and save over its checkpoints; resume with sd-scripts v0.9.1 or newer"
        )
    argv = ["--resume", str(point.state), "--initial_step", str(point.step)]
    return argv + (["--skip_until_initial_step"] if accumulation <= 1 else [])


def build_argv(
    plan: PlanFolder, sd: SdScripts, resume: ResumePoint | None = None, logs: tuple[Path, str] | None = None
) -> list[str]:
    """The launch. `logs` (folder, prefix) sends sd-scripts' TensorBoard logs into the run record;
    command-line arguments beat the config file's logging_dir."""
    data = plan.plan
    own = ["--config_file", str(plan.folder / "config.toml"), "--dataset_config", str(plan.folder / "dataset.toml")]
    argv = [
        str(sd.python), "-m", "accelerate.commands.launch", *data["accelerate_args"],
        str(sd.root / data["script"]), *own, "--console_log_simple",
    ]  # fmt: skip
    if logs is not None:
        argv += ["--logging_dir", str(logs[0]), "--log_prefix", logs[1]]
    if resume is not None:
        argv += resume_args(resume, sd, int(plan.arg("gradient_accumulation_steps", 1) or 1))
    return argv


@dataclass
class Outcome:
    status: str
    returncode: int
    final_step: int | None = None
    total_steps: int | None = None
    epoch: int | None = None
    epochs: int | None = None
    final_loss: float | None = None
    fatal: list[dict[str, str]] = field(default_factory=list)
    outputs: list[dict[str, Any]] = field(default_factory=list)
    loss_shift: str | None = None
    seconds: float = 0.0
    start_step: int = 0
    """The run's step this launch started at (a resume's state)."""
    states: list[dict[str, Any]] = field(default_factory=list)
    """Saved states with the run's step each holds."""
    parse_errors: int = 0
    """Log lines kohyawiz's parser failed on; the first one is in parse_error."""
    parse_error: str | None = None
    validation: list[dict[str, Any]] = field(default_factory=list)
    """Validation losses (K-VALIDATE), each with the epoch and the run's step it was measured at."""

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


class Watcher:
    """Turns streamed text into events, records them, and keeps the running state."""

    def __init__(
        self,
        record: RunRecord,
        on_event: Callable[[logparse.Event], None] | None = None,
        *,
        start_step: int = 0,
        states_in: tuple[Path, str] | None = None,
        on_watch: Callable[[Watcher, logparse.Event], None] | None = None,
    ) -> None:
        """`start_step`: the run's step a resume starts at (the log counts from 0 again);
        `states_in`: the output folder and name sd-scripts saves states under; `on_watch`: called
        with the watcher itself after each event, for a face that shows the running state (the
        wizard's train step) instead of tracking its own."""
        self.parser = logparse.LogParser()
        self.record = record
        self.on_event = on_event
        self.on_watch = on_watch
        self.outcome = Outcome("running", -1, start_step=start_step)
        self.start_step = start_step
        self.states_in = states_in
        self.planned_total: int | None = None
        self.validating: tuple[int | None, int] | None = None
        """(epoch, the run's step) where the latest validation pass started."""
        self.measured = False
        """The latest pass has drawn its end (later draws of it replace that value)."""
        self.losses: list[tuple[int, float]] = []
        self.saves: list[tuple[int, int]] = []
        self.checkpoints: list[str] = []

    def text(self, text: str) -> None:
        for event in self.parser.feed(text):
            self.event(event)

    def written(self) -> list[str]:
        """The checkpoints and states this launch announced."""
        return self.checkpoints + [str(state["path"]) for state in self.outcome.states]

    def renamed(self, renamed: dict[str, str]) -> None:
        """Files renamed after the launch (kohyawiz.run.renumber), in the record and the outcome."""
        for old, new in renamed.items():
            self.record.add_event({"event": "Renamed", "from": old, "to": new})
        self.checkpoints = [renamed.get(path, path) for path in self.checkpoints]
        for state in self.outcome.states:
            state["path"] = renamed.get(str(state["path"]), state["path"])

    def close(self) -> None:
        for event in self.parser.close():
            self.event(event)

    def event(self, event: logparse.Event) -> None:
        out = self.outcome
        reached = out.final_step if out.final_step is not None else self.start_step
        extra: dict[str, Any] = {}
        match event:
            case logparse.Summary(total_steps=total, epochs=epochs):
                self.planned_total = total or self.planned_total
                out.total_steps, out.epochs = total or out.total_steps, epochs or out.epochs
            case logparse.StepsOverride(epochs=epochs, steps=steps):
                self.planned_total = steps
                out.epochs, out.total_steps = epochs, steps
            case logparse.EpochStarted(epoch=epoch, total=total):
                out.epoch, out.epochs = epoch, total
            case logparse.Progress(step=step, total=total, loss=loss):
                # a resumed run's bar counts this launch's steps only; the run's step is the ledger's
                reached = self.start_step + step
                extra["run_step"] = reached
                out.final_step = reached
                out.total_steps = self.planned_total or self.start_step + total
                if loss is not None:
                    out.final_loss = loss
                    if self.losses and self.losses[-1][0] == reached:
                        self.losses[-1] = (reached, loss)  # tqdm redraws a step once its loss is known
                    else:
                        self.losses.append((reached, loss))
            case logparse.Validation(per=per, done=done, total=total, loss=loss):
                if done < total or self.validating is None:
                    self.validating, self.measured = (out.epoch, reached), False
                started_in, at = self.validating
                extra.update(run_step=at, epoch=started_in)
                if done == total and loss is not None:
                    # tqdm draws the last step before its postfix is updated: the last draw holds the pass's mean
                    entry = {"per": per, "epoch": started_in, "step": at, "loss": loss}
                    if self.measured:
                        out.validation[-1] = entry
                    else:
                        out.validation.append(entry)
                    self.measured = True
            case logparse.CheckpointSaved(path=path):
                extra.update(run_step=reached, epoch=out.epoch)
                self.checkpoints.append(path)
                if out.epoch is not None and out.final_step is not None:
                    self.saves.append((out.epoch, out.final_step))
            case logparse.StateSaved(text=text) if self.states_in is not None:
                folder = state_path(text, *self.states_in)
                extra.update(run_step=reached, epoch=out.epoch, path=str(folder))
                out.states.append({"path": str(folder), "step": reached, "epoch": out.epoch})
            case logparse.Fatal():
                out.fatal.append({"kind": event.kind, "message": event.message, "advice": event.advice})
        self.record.add_event({**logparse.event_record(event), **extra})
        if self.on_event is not None:
            self.on_event(event)
        if self.on_watch is not None:
            self.on_watch(self, event)


def train(
    plan: PlanFolder,
    sd: SdScripts,
    *,
    resume: ResumePoint | None = None,
    on_event: Callable[[logparse.Event], None] | None = None,
    on_text: Callable[[str], None] | None = None,
    stop: StopRequest | None = None,
    env_extra: dict[str, str] | None = None,
    on_watch: Callable[[Watcher, logparse.Event], None] | None = None,
) -> tuple[Outcome, RunRecord]:
    plan.check_trust()
    plan.reanchor()  # a copied or moved plan trains from where it is, with the edits made there
    name = str(plan.arg("output_name", plan.folder.name))
    launched = plan.config_args()  # what sd-scripts reads at launch, the saved LoRAs are checked against it
    record = RunRecord.create(name, plan.plan, [])
    argv = build_argv(plan, sd, resume, (record.folder / TENSORBOARD_DIR, f"{record.folder.name}-"))
    record.write_argv(argv)
    write_start(record.folder, plan.folder, resume)
    watcher = Watcher(
        record, on_event, start_step=0 if resume is None else resume.step, states_in=(output_dir(plan), name),
        on_watch=on_watch,
    )
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "COLUMNS": "160", **(env_extra or {})}
    stop = stop or StopRequest()
    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGINT, lambda *_: stop.request())

    def on_chunk(text: str) -> None:
        watcher.text(text)
        if on_text is not None:
            on_text(text)

    renumbering = _renumbering(plan, resume, name)
    recover(output_dir(plan))
    sampler = PeakSampler()
    try:
        if renumbering is not None:
            renumbering.stash()
        try:
            with record.log_path.open("w", encoding="utf-8") as log:
                finished = run_streaming(
                    argv, on_chunk, cwd=sd.root, env=env, log=log, stop=stop, on_start=sampler.start
                )
        finally:
            sampler.stop()
            if previous is not None:
                signal.signal(signal.SIGINT, previous)
        if renumbering is not None:
            watcher.close()
            watcher.renamed(renumbering.renumber(watcher.written()))
    finally:
        if renumbering is not None:
            renumbering.restore()
    outcome = conclude(watcher, finished.returncode, finished.seconds, finished.interrupted, launched)
    _keep_peaks(record, plan.plan, sampler.peaks, outcome)
    return outcome, record


def _renumbering(plan: PlanFolder, resume: ResumePoint | None, name: str) -> Renumbering | None:
    """For a resume whose launch will count steps from less than the run's step (past the first
    epoch) in a plan that names files by step."""
    if resume is None or not plan.arg("save_every_n_steps"):
        return None
    per_epoch = plan.plan.get("figures", {}).get("steps_per_epoch")
    accumulation = int(plan.arg("gradient_accumulation_steps", 1) or 1)
    lag = counter_lag(resume.step, per_epoch if isinstance(per_epoch, int) else 0, accumulation)
    return Renumbering(output_dir(plan), name, lag, resume.state) if lag else None


def conclude(
    watcher: Watcher, returncode: int, seconds: float, interrupted: bool, launched: dict[str, Any]
) -> Outcome:
    """The outcome of a run whose log has ended, kept in its record: status, checkpoints checked
    against the arguments it was launched with (`launched`), a late loss shift."""
    watcher.close()
    outcome = watcher.outcome
    outcome.parse_errors, outcome.parse_error = watcher.parser.errors, watcher.parser.first_error
    outcome.returncode, outcome.seconds = returncode, round(seconds, 2)
    if interrupted and not (returncode == 0 and _final_model_saved(watcher, outcome, launched)):
        outcome.status = "interrupted"
    elif returncode != 0 or outcome.fatal:
        outcome.status = "failed"  # "No data found" exits with 0 and still failed
    else:
        outcome.status = "completed"
    for path in watcher.checkpoints:
        entry: dict[str, Any] = {"path": path}
        try:
            metadata = safetensors_metadata(Path(path))
            entry["metadata"] = {k: v for k, v in metadata.items() if k.startswith("ss_network") or k == "ss_epoch"}
            entry["mismatches"] = metadata_mismatches(metadata, launched)
        except UserError as exc:
            entry["error"] = str(exc)
        outcome.outputs.append(entry)
    shift = detect_loss_shift(watcher.losses, watcher.saves, outcome.total_steps)
    if shift is not None:
        outcome.loss_shift = shift.message()
    watcher.record.finish(outcome.as_dict())
    return outcome


def _final_model_saved(watcher: Watcher, outcome: Outcome, launched: dict[str, Any]) -> bool:
    """A stop pressed after the last step and the final save, with sd-scripts exiting cleanly, stopped
    nothing: the run's own output name (no epoch or step suffix) was saved at the last step."""
    name = launched.get("output_name")
    done = outcome.final_step is not None and outcome.total_steps is not None and outcome.final_step >= outcome.total_steps
    return bool(name) and done and any(Path(path).stem == name for path in watcher.checkpoints)


def _keep_peaks(record: RunRecord, plan: dict[str, Any], peaks: Peaks, outcome: Outcome) -> None:
    """memory.json beside the outcome; a run that trained at least a step without running out of
    memory teaches the GPU model's ratio (an OOM's peak is the card, not the run)."""
    memory = memory_record(plan, peaks)
    oom = any(f.get("kind") == "oom" for f in outcome.fatal)
    if not oom and (outcome.final_step or 0) >= 1:
        learned = learn_ratio(kohyawiz_home(), memory, record.folder.name)
        if learned is not None:
            memory["learned"] = learned
    write_memory_record(record.folder, memory)
