"""sd-scripts' console output as typed events. Pure: no I/O, and never raises on any input.

tqdm redraws its bar with carriage returns, so text is split on both '\\r' and '\\n'. Rich log
prefixes (time, level, `file.py:NN`) are stripped when `--console_log_simple` was not used.
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Summary:
    """The `running training` block."""

    images_with_repeats: int | None = None
    reg_images: int | None = None
    batches_per_epoch: int | None = None
    epochs: int | None = None
    batch_size: int | None = None
    gradient_accumulation_steps: int | None = None
    total_steps: int | None = None


@dataclass(frozen=True)
class StepsOverride:
    epochs: int
    steps: int


@dataclass(frozen=True)
class EpochStarted:
    epoch: int
    total: int


@dataclass(frozen=True)
class Progress:
    step: int
    total: int
    elapsed_s: float | None
    remaining_s: float | None
    rate: float | None
    """Steps per second."""
    loss: float | None


@dataclass(frozen=True)
class Validation:
    """sd-scripts' validation bar (train_network.py, main): drawn as a pass starts (done 0) and
    as it ends (done == total, with the pass's mean loss)."""

    per: str
    """"epoch" (the validation at an epoch's end) or "step" (every validate_every_n_steps)."""
    done: int
    total: int
    loss: float | None


@dataclass(frozen=True)
class CheckpointSaved:
    path: str


@dataclass(frozen=True)
class StateSaved:
    text: str


@dataclass(frozen=True)
class ModelSaved:
    pass


@dataclass(frozen=True)
class SamplesGenerated:
    step: int | None


@dataclass(frozen=True)
class Fatal:
    kind: str
    message: str
    advice: str


Event = (
    Summary
    | StepsOverride
    | EpochStarted
    | Progress
    | Validation
    | CheckpointSaved
    | StateSaved
    | ModelSaved
    | SamplesGenerated
    | Fatal
)

ADVICE = {
    "oom": (
        "the GPU ran out of memory: lower the batch size to 1, cache latents to disk "
        "(--set cache_latents_to_disk=true), turn on gradient checkpointing, or train at a smaller "
        "resolution; re-plan with your real --vram so kohyawiz picks these for you"
    ),
    "no_data": (
        "sd-scripts found no images (and still exits with code 0): check that each image_dir in "
        "dataset.toml exists and holds .png/.jpg/.jpeg/.webp/.bmp files; run `kohyawiz check`"
    ),
    "dataset_config": "sd-scripts refused the dataset config: re-plan with kohyawiz, and check the key it names",
    "argparse": "sd-scripts refused an argument: the target sd-scripts version may differ; re-plan with --sd-scripts-version",
    "missing_model": "the base model was not found: check --model (a file, a diffusers folder or a Hugging Face id)",
    "missing_config": "the config file is missing: re-plan, or run `kohyawiz train` on the plan folder",
    "nan_loss": "the loss became NaN: lower the learning rate, use fp16 with no_half_vae on SDXL, or bf16",
    "lycoris_preset": "lycoris-lora cannot build this network on this model: re-plan with kohyawiz (it writes a preset that avoids this)",
    "missing_package": "a Python package is missing from sd-scripts' environment: install it there",
    "error": "sd-scripts stopped with an error; the log above has the details",
}

_RICH = re.compile(
    r"^(?:\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)?\s*(?:DEBUG|INFO|WARNING|ERROR|CRITICAL)\s+(?P<msg>.*?)\s*(?:\S+\.py:\d+)?\s*$"
)
_SUMMARY_FIELDS = {
    "num train images * repeats": "images_with_repeats",
    "num reg images": "reg_images",
    "num batches per epoch": "batches_per_epoch",
    "num epochs": "epochs",
    "batch size per device": "batch_size",
    "gradient accumulation steps": "gradient_accumulation_steps",
    "total optimization steps": "total_steps",
}
_SUMMARY_LINE = re.compile(r"^\s+(?P<name>[^/]+?) / .*?[:=] (?P<value>.+)$")
_OVERRIDE = re.compile(r"override steps\. steps for (\d+) epochs is .*?: (\d+)")
_EPOCH = re.compile(r"^epoch (\d+)/(\d+)$")
_BAR = re.compile(
    r"^(?P<desc>[^:|]*?):?\s*(?P<pct>\d+)%\|[^|]*\|\s*(?P<n>\d+)/(?P<total>\d+)\s*"
    r"\[(?P<elapsed>[\d:]+)<(?P<remaining>[\d:?]+),\s*(?P<rate>[\d.]+|\?)(?P<unit>s/it|it/s)?(?:,\s*(?P<postfix>.*))?\]"
)
_LOSS = re.compile(r"avr_loss=([-+\w.]+)")
_VALIDATION_BARS = {"epoch validation steps": ("epoch", "val_epoch_avg_loss"), "validation steps": ("step", "val_avg_loss")}
_SAVE = re.compile(r"^saving checkpoint: (.+)$")
_STATE = re.compile(r"^(saving state at (?:epoch|step) \d+|saving last state\.?)")
_SAMPLES = re.compile(r"generating sample images at step[^:]*:?\s*(\d+)?")
_ARGPARSE = re.compile(r"^\S+\.py: error: (.+)$")
_MISSING_CONFIG = re.compile(r"^(\S+) not found\.$")
_EXCEPTION = re.compile(r"^(?P<type>[A-Za-z_][\w.]*(?:Error|Exception|Invalid)): (?P<msg>.+)$")


def _seconds(text: str) -> float | None:
    if not text or "?" in text:
        return None
    total = 0.0
    for part in text.split(":"):
        if not part.isdigit():
            return None
        total = total * 60 + int(part)
    return total


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def clean(line: str) -> str:
    """A line without its rich log prefix and trailing padding."""
    stripped = line.rstrip()
    match = _RICH.match(stripped)
    return match.group("msg") if match else stripped


def _fatal(kind: str, message: str) -> Fatal:
    return Fatal(kind, message.strip()[:500], ADVICE[kind])


def _validation(match: re.Match[str]) -> Validation | None:
    per, key = _VALIDATION_BARS[match.group("desc").strip()]
    done, total = int(match.group("n")), int(match.group("total"))
    if 0 < done < total:
        return None  # only where a pass starts and ends
    found = re.search(re.escape(key) + r"=([-+\w.]+)", match.group("postfix") or "")
    return Validation(per, done, total, _number(found.group(1)) if found and done == total else None)


def _progress(match: re.Match[str]) -> Progress | Validation | None:
    if match.group("desc").strip() in _VALIDATION_BARS:
        return _validation(match)
    if match.group("desc").strip() != "steps":
        return None  # caching, captions and other bars
    rate = _number(match.group("rate") or "")
    if rate and match.group("unit") == "s/it":
        rate = 1 / rate
    loss = None
    if match.group("postfix"):
        found = _LOSS.search(match.group("postfix"))
        if found:
            loss = _number(found.group(1))
    return Progress(
        int(match.group("n")), int(match.group("total")), _seconds(match.group("elapsed")),
        _seconds(match.group("remaining")), rate, loss,
    )  # fmt: skip


@dataclass
class LogParser:
    """Feed text as it arrives; get events. Keeps the summary block and partial lines between calls."""

    _pending: str = ""
    _summary: dict[str, int] = field(default_factory=dict)
    _in_summary: bool = False
    _last_progress: tuple[int, float | None] | None = None
    errors: int = 0
    """Lines the parser failed on (kept out of the events, counted into the run record)."""
    first_error: str | None = None
    _last_validation: Validation | None = None

    def feed(self, text: str) -> list[Event]:
        events: list[Event] = []
        self._pending += text
        *lines, self._pending = re.split(r"\r\n|\r|\n", self._pending)
        for line in lines:
            events += self.line(line)
        return events

    def close(self) -> list[Event]:
        rest, self._pending = self._pending, ""
        events = self.line(rest) if rest else []
        if self._in_summary:
            events.append(self._flush_summary())
        return events

    def _flush_summary(self) -> Summary:
        self._in_summary = False
        summary = Summary(**self._summary)
        self._summary = {}
        return summary

    def line(self, raw: str) -> list[Event]:
        try:
            return self._line(raw)
        except Exception as exc:  # a parser of someone else's output must never stop the run, but says it failed
            self.errors += 1
            if self.first_error is None:
                self.first_error = f"{type(exc).__name__}: {exc} on {raw[:120]!r}"
            return []

    def _line(self, raw: str) -> list[Event]:
        head: list[Event] = []
        if self._in_summary:
            match = _SUMMARY_LINE.match(raw.rstrip())
            if match:
                name = match.group("name").strip()
                value = re.match(r"\d+", match.group("value").strip())
                if name in _SUMMARY_FIELDS and value:
                    self._summary[_SUMMARY_FIELDS[name]] = int(value.group())
                return []
            head.append(self._flush_summary())
        text = clean(raw)
        if text.startswith("running training"):
            self._in_summary = True
            return head
        return head + self._classify(text) if text else head

    def _classify(self, text: str) -> list[Event]:
        if match := _BAR.search(text):
            progress = _progress(match)
            if progress is None:
                return []
            if isinstance(progress, Validation):
                if progress == self._last_validation:
                    return []  # tqdm draws the last state again when the bar is closed
                self._last_validation = progress
                return [progress]
            key = (progress.step, progress.loss)
            if key == self._last_progress:
                return []  # tqdm draws each step twice: before and after the postfix update
            self._last_progress = key
            if progress.loss is not None and math.isnan(progress.loss):
                return [progress, _fatal("nan_loss", f"avr_loss=nan at step {progress.step}")]
            return [progress]
        if match := _EPOCH.match(text):
            return [EpochStarted(int(match.group(1)), int(match.group(2)))]
        if match := _OVERRIDE.search(text):
            return [StepsOverride(int(match.group(1)), int(match.group(2)))]
        if match := _SAVE.match(text):
            return [CheckpointSaved(match.group(1).strip())]
        if match := _STATE.match(text):
            return [StateSaved(match.group(1))]
        if text.startswith("model saved"):
            return [ModelSaved()]
        if match := _SAMPLES.search(text):
            return [SamplesGenerated(int(match.group(1)) if match.group(1) else None)]
        return self._fatal_line(text)

    def _fatal_line(self, text: str) -> list[Event]:
        if "CUDA out of memory" in text or "OutOfMemoryError" in text:
            return [_fatal("oom", text)]
        if text.startswith("No data found"):
            return [_fatal("no_data", text)]
        if match := _ARGPARSE.match(text):
            return [_fatal("argparse", match.group(1))]
        if (
            "model is not found as a file or in Hugging Face" in text
            or "is neither a valid local path nor a valid repo id" in text
        ):
            return [_fatal("missing_model", text)]
        if (match := _MISSING_CONFIG.match(text)) and match.group(1).endswith(".toml"):
            return [_fatal("missing_config", text)]
        if match := _EXCEPTION.match(text):
            kind, message = match.group("type"), match.group("msg")
            if "MultipleInvalid" in kind or "voluptuous" in kind:
                return [_fatal("dataset_config", message)]
            if "duplicated lora name" in message:
                return [_fatal("lycoris_preset", message)]
            if kind.endswith(("ModuleNotFoundError", "ImportError")):
                return [_fatal("missing_package", message)]
            if "OutOfMemory" in kind:
                return [_fatal("oom", message)]
            if "HFValidationError" in kind:
                return [_fatal("missing_model", message)]
            return [_fatal("error", f"{kind}: {message}")]
        return []


def event_record(event: Event) -> dict[str, Any]:
    """An event as one JSON-able dict, for events.jsonl."""
    return {"event": type(event).__name__, **asdict(event)}
