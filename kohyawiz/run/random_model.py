"""A model with random weights, built in sd-scripts' own environment by sd_build_model.py from
sd-scripts' own model classes: what `kohyawiz demo --train` and bench/e2e_cpu.py train on a
machine that has no model."""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kohyawiz.errors import UserError
from kohyawiz.run.process import capture
from kohyawiz.run.sdscripts.locate import SdScripts

BUILDER = Path(__file__).resolve().parent / "sdscripts" / "sd_build_model.py"
BUILD_TIMEOUT_S = 3600.0
OFFLINE = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "CUDA_VISIBLE_DEVICES": ""}


@dataclass(frozen=True)
class RandomModel:
    family: str
    model: Path
    companions: dict[str, Path]
    """Companion files by the sd-scripts argument that takes them (qwen3, vae, ...)."""
    args: dict[str, str]
    """Further arguments the model needs (the tokenizer cache the builder wrote)."""
    parameters: dict[str, int]
    random: list[str]
    real: list[str]
    reused: bool

    def overrides(self) -> dict[str, str]:
        """The companions as `--set ARG=PATH` overrides for a plan."""
        return {**{arg: str(path) for arg, path in self.companions.items()}, **self.args}


def build_random_model(sd: SdScripts, family: str, folder: Path, clip_tokenizers: Path | None = None) -> RandomModel:
    """Build (or reuse, when `folder` holds a finished one) the family's random model. Families with
    CLIP text encoders (flux, sd3) need `clip_tokenizers`: a --tokenizer_cache_dir style folder
    holding openai_clip-vit-large-patch14, which no sd-scripts checkout ships."""
    folder = folder.expanduser().resolve()
    env = {**os.environ, **OFFLINE}
    if clip_tokenizers is not None:
        env["TOKENIZER_CACHE_DIR"] = str(clip_tokenizers)
    code, out = capture(
        [str(sd.python), str(BUILDER), family, str(folder)], cwd=sd.root, env=env, timeout_s=BUILD_TIMEOUT_S
    )
    answers = [line for line in out.splitlines() if line.startswith("{")]
    facts: dict[str, Any] = {}
    if answers:
        try:
            facts = json.loads(answers[-1])
        except ValueError:
            facts = {}
    if code != 0 or "model" not in facts:
        said = facts.get("error") or (out.strip().splitlines() or ["no output"])[-1]
        raise UserError(f"building a random {family} model in sd-scripts' environment failed (exit {code}): {said[:300]}",
                        where=str(folder))  # fmt: skip
    return RandomModel(
        family=family, model=Path(facts["model"]),
        companions={arg: Path(path) for arg, path in facts["companions"].items()}, args=dict(facts.get("args", {})),
        parameters=dict(facts["parameters"]), random=list(facts["random"]), real=list(facts["real"]),
        reused=bool(facts.get("reused")),
    )  # fmt: skip


CPU_DIT_OVERRIDES = {
    "resolution": "64", "min_bucket_reso": "64", "max_bucket_reso": "128", "mixed_precision": "bf16",
    "max_data_loader_n_workers": "0", "persistent_data_loader_workers": "false",
}  # fmt: skip
"""A few CPU steps on a random DiT: the smallest bucket, bf16 (half the frozen DiT's memory, and
CPUs run it), no loader workers. Given as overrides, so the plan says where each came from."""
CPU_FAMILY_OVERRIDES = {
    "flux": {"fp8_base": "false", "t5xxl_max_token_length": "32", "save_precision": "bf16"},
    "sd3": {"t5xxl_max_token_length": "32", "save_precision": "bf16"},
}
"""fp8 weights do not run on a CPU; a short T5 context keeps the full-size T5-XXL's caching pass to
seconds."""


@dataclass
class Trial:
    """A LoRA planned on a random model and trained through `kohyawiz train`'s own functions."""

    model: RandomModel
    plan_dir: Path
    script: str
    planned_steps: int
    outcome: Any = None
    record: Any = None
    problems: list[str] = field(default_factory=list)
    build_seconds: float = 0.0

    def summary(self) -> dict[str, Any]:
        """One JSON-able line: what ran, what came out, and whether the LoRA's metadata is the plan's."""
        out: dict[str, Any] = {"family": self.model.family, "script": self.script, "plan": str(self.plan_dir)}
        if self.outcome is None:
            return {**out, "status": "preflight failed", "problems": self.problems}
        last = self.outcome.outputs[-1] if self.outcome.outputs else {}
        lora = Path(last["path"]) if "path" in last else None
        return {
            **out, "status": self.outcome.status, "steps": self.outcome.final_step, "planned_steps": self.planned_steps,
            "seconds": self.outcome.seconds, "build_seconds": round(self.build_seconds, 1), "model_reused": self.model.reused,
            "lora": str(lora) if lora else None, "tensors": tensor_count(lora) if lora and lora.is_file() else 0,
            "ss_network_module": last.get("metadata", {}).get("ss_network_module"),
            "metadata_matches": bool(last) and not last.get("mismatches") and "error" not in last,
            "mismatches": last.get("mismatches", []), "final_loss": json_number(self.outcome.final_loss),
            "record": str(self.record.folder), "random": self.model.random, "real": self.model.real,
            "parameters": self.model.parameters,
        }  # fmt: skip


def json_number(value: float | None) -> float | str | None:
    """A loss for a JSON line: NaN and infinities (a diverged run) as text, which JSON has no number for."""
    return value if value is None or math.isfinite(value) else str(value)


def tensor_count(path: Path) -> int:
    from kohyawiz.models import read_safetensors_header

    return len([key for key in read_safetensors_header(path) if key != "__metadata__"])


def train_on_random_model(
    sd: SdScripts, family: str, dataset: Path, plan_dir: Path, build_dir: Path, *, steps: int = 2,
    on_event: Callable[[Any], None] | None = None, clip_tokenizers: Path | None = None,
) -> Trial:  # fmt: skip
    """Build (or reuse) the family's random model in `build_dir`, plan a LoRA on it for `dataset`
    into `plan_dir`, run the preflight and train `steps` steps."""
    from kohyawiz.assemble import PlanRequest, plan_from_request
    from kohyawiz.emit import write_plan
    from kohyawiz.run.train import PlanFolder, preflight, train

    start = time.monotonic()
    model = build_random_model(sd, family, build_dir, clip_tokenizers)
    build_seconds = time.monotonic() - start
    request = PlanRequest(
        out_dir=plan_dir,
        answers={"subject": "concept", "vram_gb": 24, "model": {"family": family, "path": str(model.model)}},
        dataset=dataset,
        overrides={
            **CPU_DIT_OVERRIDES, **CPU_FAMILY_OVERRIDES.get(family, {}), "max_train_steps": str(steps),
            **model.overrides(),
        },
        force=True,  # the doctor's small-dataset warnings do not matter for a few steps
    )
    plan, _ = plan_from_request(request)
    write_plan(plan)
    folder = PlanFolder.load(plan_dir)
    trial = Trial(model, folder.folder, plan.script, steps, build_seconds=build_seconds)
    trial.problems = preflight(folder, sd).errors
    if not trial.problems:
        trial.outcome, trial.record = train(folder, sd, on_event=on_event, env_extra=OFFLINE)
    return trial
