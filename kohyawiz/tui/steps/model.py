"""Step 2: the base model; its header is read whenever the step is left or the path submitted."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Checkbox, Input, Label, Select, Static

from kohyawiz.answers import FAMILIES, TAG_STYLES
from kohyawiz.errors import UserError
from kohyawiz.tui.state import HEADER_FIELDS, number_problem
from kohyawiz.tui.steps.base import Step, problem_line
from kohyawiz.tui.text import error, join, plain, strong, warning

if TYPE_CHECKING:
    from kohyawiz.models import ModelInfo


def family_name(family: str) -> str:
    from kohyawiz.families import family_spec

    return f"{family_spec(family).label} ({family})"

def companion_args() -> list[str]:
    """Every companion-file argument any family's trainer takes, each once."""
    from kohyawiz.families import SPECS

    return list(dict.fromkeys(c.arg for spec in SPECS.values() for c in spec.companions))


TAG_NAMES = {"natural": "natural language", "booru": "booru tags (anime)", "e6": "e6 tags (furry)"}


class ModelStep(Step):
    step_id = "model"
    title = "Base model"
    help = (
        "The model you train on. Give its file (.safetensors), a diffusers folder or a Hugging Face id "
        "already in your cache; kohyawiz reads its header (never the weights) when you leave this step "
        "and fills in the family, v-prediction, zero terminal SNR and native resolution. Values read "
        "from the header are marked as such until you change them.\n\n"
        "Rules: T-FAMILY picks the training script and the v2 / v-prediction flags, T-CLIPSKIP the clip "
        "skip (2 for anime ancestry, 1 otherwise, none on SDXL), T-ZSNR the zSNR flag, T-RES the "
        "resolution (never above what the model generates natively), T-BASE warns about merges, "
        "D-TAGSTYLE checks that captions match the ancestry's prompt style.\n\n"
        "Flux.1, Chroma, SD3, Lumina 2, Anima and HunyuanImage train with their own sd-scripts trainer "
        "and need their text encoders and VAE as separate files (F-COMPANION): kohyawiz looks for them "
        "beside the model and in text_encoders, clip and vae folders; give any it does not find in the "
        "field below the family (the same as `--set t5xxl=/models/t5xxl_fp16.safetensors`), or as an "
        "override on the review step."
    )

    def compose(self) -> ComposeResult:
        from kohyawiz.facts import known_versions

        yield Label("Model file, diffusers folder or cached Hugging Face id (optional for now)")
        with Horizontal(classes="row"):
            yield Input(placeholder="/models/base.safetensors", id="model-path")
            yield Button("Browse", id="model-browse")
        yield Static("", id="model-found", classes="note")
        yield Label("Family (ancestry), required")
        yield Select([(family_name(f), f) for f in FAMILIES], prompt="choose the family", id="family")
        yield Static("", id="companions", classes="note")
        for arg in companion_args():  # shown for the families that need them
            with Vertical(id=f"companion-field-{arg}", classes="companion-field"):
                yield Label(arg, id=f"companion-label-{arg}")
                yield Input(id=f"companion-{arg}")
        yield Label("Prompt style of its ancestry")
        yield Select([(TAG_NAMES[t], t) for t in TAG_STYLES], allow_blank=False, value="natural", id="tags")
        yield Checkbox("v-prediction model", id="vpred")
        yield Checkbox("zero terminal SNR model", id="zsnr")
        yield Checkbox("the model is a merge", id="merge")
        yield Checkbox("it already knows something close to the subject", id="knows")
        yield Label("Clip skip its authors state (empty: by ancestry)")
        yield Input(placeholder="1 or 2", id="clip-skip")
        yield problem_line("clip-skip")
        yield Label("Native resolution in px (empty: by family)")
        yield Input(placeholder="e.g. 768", id="native")
        yield problem_line("native")
        yield Label("sd-scripts version to plan for")
        yield Select([(v.id, v.id) for v in known_versions()], prompt="the newest known", id="sd-version")

    def load(self) -> None:
        s = self.state
        self.set_value("model-path", s.model_path)
        self.query_one("#family", Select).value = s.family if s.family else Select.NULL
        self.query_one("#tags", Select).value = s.tags
        for box, value in (("vpred", s.vpred), ("zsnr", s.zsnr), ("merge", s.merge), ("knows", s.knows_subject)):
            self.query_one(f"#{box}", Checkbox).value = value
        self.set_value("clip-skip", "" if s.clip_skip is None else str(s.clip_skip))
        self.set_value("native", "" if s.native_resolution is None else str(s.native_resolution))
        version = self.query_one("#sd-version", Select)
        version.value = s.sd_scripts_version if s.sd_scripts_version else Select.NULL
        self._show_found()
        self._load_companions()
        self._show_companions()

    def _load_companions(self) -> None:
        """The companion fields hold the overrides of those arguments (the CLI's --set ARG=PATH)."""
        self._companions_loaded = {arg: self.state.overrides.get(arg, "") for arg in companion_args()}
        for arg, value in self._companions_loaded.items():
            self.set_value(f"companion-{arg}", value)

    def _store_companions(self) -> None:
        """A field the person changed becomes (or stops being) an override; the others are left
        alone, so an override set on the review step is not undone from here."""
        overrides = dict(self.state.overrides)
        for arg, loaded in self._companions_loaded.items():
            typed = self.value(f"companion-{arg}").strip()
            if typed == loaded:
                continue
            if typed:
                overrides[arg] = typed
            else:
                overrides.pop(arg, None)
            self._companions_loaded[arg] = typed
        self.state.overrides = overrides

    def shown(self) -> None:
        self._load_companions()  # the review step may have set or removed one
        self._show_companions()

    def _show_companions(self) -> None:
        """What a DiT family needs beside the model, a field for each, and what was found."""
        from pathlib import Path

        from kohyawiz.families import family_spec
        from kohyawiz.families.companions import look_for

        s = self.state
        line = self.query_one("#companions", Static)
        needed = {c.arg: c for c in family_spec(s.family).companions} if s.family else {}
        for arg in companion_args():
            self.query_one(f"#companion-field-{arg}").display = arg in needed
        if not needed:
            line.update("")
            return
        spec = family_spec(str(s.family))
        model = Path(s.model_path).expanduser() if s.model_path.strip() else None
        missing = []
        for arg, companion in needed.items():
            found = look_for(companion, model, set()) if model is not None and model.exists() else None
            self.query_one(f"#companion-label-{arg}", Label).update(plain(f"{arg}: {companion.what}"))
            field = self.query_one(f"#companion-{arg}", Input)
            field.placeholder = f"found: {found}" if found else "not found beside the model: give its file"
            if not found and not field.value.strip():
                missing.append(arg)
        said = f"; give {', '.join(missing)} below" if missing else "; an empty field uses the file found"
        line.update(plain(f"{spec.label} trains with {spec.script} and needs these files{said}."))

    @on(Input.Changed, ".companion-field Input")
    def _companion_typed(self) -> None:
        self._show_companions()

    @on(Select.Changed, "#family")
    def _family_changed(self, event: Select.Changed) -> None:
        self._take("family", None if event.value is Select.NULL else str(event.value))
        self._show_companions()
        self._show_conflict()

    _info: ModelInfo | None = None

    def _show_conflict(self) -> None:
        """The core's own line when the chosen family is not the one the header shows (T-FAMILY)."""
        from kohyawiz.models import family_conflict

        if self._info is None or not self.state.family:
            return
        conflict = family_conflict(self.state.family, self._info, "the family you gave is")
        if conflict is not None:
            self.query_one("#model-found", Static).update(error(f"{conflict}: planning refuses it"))
        else:
            self._show_header(self._info)

    def _show_header(self, info: ModelInfo) -> None:
        notes = "; ".join(info.notes)
        self.query_one("#model-found", Static).update(
            join(strong(f"Read from its header: {info.kind}"), plain(f" ({notes})" if notes else ""), self._header_line())
        )

    def store(self, check: bool) -> str | None:
        s = self.state
        self._store_companions()
        path = self.value("model-path").strip()
        if path != s.inspected_path:
            self.inspect(path)  # leaving the step by any key reads what was typed
        family = self.query_one("#family", Select).value
        self._take("family", None if family is Select.NULL else str(family))
        s.tags = str(self.query_one("#tags", Select).value)
        self._take("vpred", self.query_one("#vpred", Checkbox).value)
        self._take("zsnr", self.query_one("#zsnr", Checkbox).value)
        s.merge = self.query_one("#merge", Checkbox).value
        s.knows_subject = self.query_one("#knows", Checkbox).value
        version = self.query_one("#sd-version", Select).value
        s.sd_scripts_version = None if version is Select.NULL else str(version)
        problems = []
        for field, attr, low, high in (("clip-skip", "clip_skip", 1, 12), ("native", "native_resolution", 256, 4096)):
            text = self.value(field).strip()
            problem = None if not text else number_problem(text, what=field.replace("-", " "), low=low, high=high,
                                                           whole=True)  # fmt: skip
            self.field_problem(field, problem)
            if problem:
                problems.append(problem)
            else:
                self._take(attr, int(text) if text else None)
        if check and self._is_lora:
            return "that file is a LoRA, not a base model: give the checkpoint to train on"
        if check and problems:
            return problems[0]
        if check and not s.family:
            return "choose the model's family (or give a model file kohyawiz can read)"
        return None

    _is_lora = False

    def _take(self, name: str, value: object) -> None:
        """Store an answer; one the person changed is no longer 'from the header'."""
        if getattr(self.state, name) != value and name in self.state.from_header:
            self.state.from_header.remove(name)
        setattr(self.state, name, value)

    def inspect(self, path: str) -> None:
        from kohyawiz.models import inspect_model

        self._store_companions()  # what was typed there survives the reload below
        s = self.state
        s.model_path, s.inspected_path = path, path
        self._is_lora, self._info = False, None
        s.from_header = []
        if not path:
            self._show_found()
            return
        try:
            info = inspect_model(path)
        except UserError as exc:
            self.query_one("#model-found", Static).update(
                join(warning("Could not read it: "), plain(str(exc)), plain(". Choose the family below."))
            )
            return
        if info.kind == "lora":
            self._is_lora = True
            self.query_one("#model-found", Static).update(error(f"{path} is a LoRA, not a base model"))
            return
        self._info = info
        found = info.answers()
        for name in HEADER_FIELDS:
            if name in found:
                setattr(s, name, found[name])
                s.from_header.append(name)
        self.load()
        self._show_header(info)

    def _header_line(self) -> str:
        s = self.state
        said = [f"{n.replace('_', ' ')} {getattr(s, n)}" for n in HEADER_FIELDS if n in s.from_header]
        return ("\nFrom the model's header: " + ", ".join(said)) if said else ""

    def _show_found(self) -> None:
        s = self.state
        found = self.query_one("#model-found", Static)
        if not s.model_path:
            found.update(plain("No model yet: you can plan now and add it later (choose the family below)."))
        elif s.from_header:
            found.update(join(plain(f"{s.model_path}"), plain(self._header_line())))

    @on(Input.Submitted, "#model-path")
    def _submitted(self) -> None:
        self.inspect(self.value("model-path").strip())

    @on(Input.Blurred, "#model-path")
    def _left_field(self) -> None:
        """Tab out of the path reads it too, so the family and its file fields are there next."""
        if self.value("model-path").strip() != self.state.inspected_path:
            self.inspect(self.value("model-path").strip())

    @on(Input.Changed, "#clip-skip")
    @on(Input.Changed, "#native")
    def _number_typed(self, event: Input.Changed) -> None:
        field = event.input.id or ""
        low, high = (1, 12) if field == "clip-skip" else (256, 4096)
        text = event.value.strip()
        problem = None if not text else number_problem(text, what=field.replace("-", " "), low=low, high=high,
                                                       whole=True)  # fmt: skip
        self.field_problem(field, problem)

    @on(Button.Pressed, "#model-browse")
    def _browse(self) -> None:
        self.browse_into("model-path", "Choose the model file or diffusers folder", folders_only=False,
                         then=self.inspect)  # fmt: skip
