"""kohyawiz's own plumbing: where outputs go, sample images, resumable state."""

from __future__ import annotations

import re

from kohyawiz.rules.context import Context, rule

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def output_name(ctx: Context) -> str:
    raw = ctx.answers.name or "_".join(ctx.concepts[0].triggers[:2])
    return _UNSAFE.sub("_", raw).strip("._") or "lora"


@rule("K-OUTPUT")
def outputs(ctx: Context) -> None:
    d = ctx.decider
    d.set("output_dir", str(ctx.out_dir / "output"), "K-OUTPUT", "beside the plan, in output/")
    d.set("output_name", output_name(ctx), "K-OUTPUT", "named after the first trigger")


@rule("K-LOGS")
def logs(ctx: Context) -> None:
    d = ctx.decider
    d.set(
        "logging_dir",
        str(ctx.out_dir / "logs"),
        "K-LOGS",
        "TensorBoard logs of every run (`kohyawiz train` puts them in the run record instead)",
    )
    chosen = d.omit("log_with", "K-LOGS", "with a logging folder sd-scripts logs to TensorBoard, nowhere else")
    if chosen in ("wandb", "all"):
        d.warn("K-LOGS", f"log_with {chosen}: the run's loss, settings and samples are sent to Weights & Biases")


@rule("K-SAMPLES")
def samples(ctx: Context) -> None:
    d = ctx.decider
    if not ctx.answers.samples:
        d.omit("sample_prompts", "K-SAMPLES", "no sample images asked for")
        return
    d.set(
        "sample_prompts",
        str(ctx.out_dir / "sample_prompts.txt"),
        "K-SAMPLES",
        f"{ctx.answers.model.tags} prompts from the template",
    )
    by_steps = d.get("save_every_n_steps")
    if by_steps and not d.get("save_every_n_epochs"):
        d.omit("sample_every_n_epochs", "K-SAMPLES", "checkpoints are saved by steps: samples follow them")
        d.set("sample_every_n_steps", by_steps, "K-SAMPLES", "a sample with every saved checkpoint")
    else:
        every = d.get("save_every_n_epochs") or d.get("max_train_epochs") or 1
        d.set("sample_every_n_epochs", every, "K-SAMPLES", "a sample with every saved checkpoint")
    d.set("sample_sampler", "euler_a", "K-SAMPLES", "a fast, forgiving sampler")


@rule("K-RESUME")
def resume(ctx: Context) -> None:
    if ctx.answers.save_state:
        ctx.decider.set(
            "save_state", True, "K-RESUME", "state saved with each checkpoint, so `kohyawiz train --resume` works"
        )
    else:
        ctx.decider.omit("save_state", "K-RESUME", "no resumable state asked for (it costs disk)")
