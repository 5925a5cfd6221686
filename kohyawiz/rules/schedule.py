"""How long to train and how concepts share an epoch (guide parts 4, 5, 6 and 8)."""

from __future__ import annotations

from kohyawiz.rules.base import Finding
from kohyawiz.rules.context import Context, rule

LORA_PASSES = 100
STYLE_PASSES = 35  # guide part 8: about 30-40 for styles
CHECKPOINTS = 10
OVERBAKE_RATIO = 4


def target_passes(ctx: Context) -> int:
    return STYLE_PASSES if ctx.answers.subject == "style" else LORA_PASSES


@rule("M-BALANCE")
def balance(ctx: Context) -> None:
    """Every concept gets the same image passes per epoch as the largest one.

    Guide part 6's recipe also multiplies by the epoch count, which agrees with its own goal only
    at one epoch; this implements the goal.
    """
    d = ctx.decider
    asked = {c.name: c for c in ctx.answers.concepts}
    largest = max(ctx.concepts, key=lambda c: c.images)
    base = asked[largest.name].repeats or asked[largest.name].folder_repeats or 1
    for concept in ctx.concepts:
        key = f"concepts.{concept.name}.num_repeats"
        explicit, from_folder = asked[concept.name].repeats, asked[concept.name].folder_repeats
        if explicit is not None:
            concept.repeats = explicit
            d.record_plan(key, explicit, "M-BALANCE", "repeats set explicitly for this concept", "user")
            continue
        if concept is largest or not ctx.answers.multi_concept:
            repeats = from_folder or 1
            why = f"{repeats} from the folder name" if from_folder else "1, the default"
            if ctx.answers.multi_concept:
                why += f"; the largest concept ({concept.images} images) sets the pace"
        elif concept.images == 0:
            repeats = base
            why = "no images yet; balanced once images are counted"
        else:
            repeats = max(1, round(largest.images * base / concept.images))
            why = (
                f"round({largest.images} x {base} / {concept.images}) = {repeats}: as many image "
                f"passes per epoch as {largest.name!r}"
            )
        concept.repeats = d.record_plan(key, repeats, "M-BALANCE", why)


@rule("M-OVERBAKE")
def overbake(ctx: Context) -> None:
    if not ctx.answers.multi_concept:
        return
    base = max(ctx.concepts, key=lambda c: c.images).repeats
    for concept in ctx.concepts:
        if concept.repeats >= OVERBAKE_RATIO * base and concept.images:
            ctx.decider.warn(
                "M-OVERBAKE",
                f"{concept.name!r} repeats {concept.repeats}x against {base}x for the largest "
                f"concept: with only {concept.images} images it may overbake; add images if you can",
            )


@rule("M-NAMES")
def concept_names(ctx: Context) -> None:
    if not ctx.answers.multi_concept:
        return
    firsts: dict[str, list[str]] = {}
    for concept in ctx.concepts:
        firsts.setdefault(concept.triggers[0], []).append(concept.name)
    for first, names in firsts.items():
        if len(names) > 1 and any(len(c.triggers) < 2 for c in ctx.concepts if c.name in names):
            ctx.decider.warn(
                "M-NAMES",
                f"concepts {', '.join(repr(n) for n in names)} share the first tag {first!r}: "
                "name outfit folders `N_charactertag, outfittag` so each has its own second tag",
            )
    triggers = [tuple(c.triggers) for c in ctx.concepts]
    if len(set(triggers)) != len(triggers):
        ctx.decider.warn("M-NAMES", "two concepts have the same trigger tags; give each its own")


@rule("M-SETTINGS")
def multi_concept_settings(ctx: Context) -> None:
    if ctx.answers.multi_concept:
        ctx.decider.info(
            "M-SETTINGS",
            "multi-concept run: batch size 1 and rank/alpha 32 as the first try (guide part 6)",
        )


@rule("T-PASSES")
def passes(ctx: Context) -> None:
    d = ctx.decider
    target = target_passes(ctx)
    base = max(ctx.concepts, key=lambda c: c.images).repeats
    epochs = max(1, round(target / base))
    kind = "a style" if ctx.answers.subject == "style" else "a LoRA"
    d.set(
        "max_train_epochs",
        epochs,
        "T-PASSES",
        f"about {target} passes per image for {kind}: round({target} / {base} repeats) = {epochs} epochs",
    )
    d.omit("max_train_steps", "T-PASSES", "training is counted in epochs; max_train_epochs overrides steps")


@rule("T-SAVE")
def save_every(ctx: Context) -> None:
    d = ctx.decider
    epochs = int(d.get("max_train_epochs") or 1)
    if epochs <= 1:
        d.omit("save_every_n_epochs", "T-SAVE", "a single epoch: only the final model is saved")
        return
    every = max(1, round(epochs / CHECKPOINTS))
    d.set(
        "save_every_n_epochs",
        every,
        "T-SAVE",
        f"about {CHECKPOINTS} checkpoints over {epochs} epochs to pick the sweet spot from",
    )


@rule("T-BATCH")
def batch(ctx: Context) -> None:
    d = ctx.decider
    if ctx.answers.multi_concept:
        why = "multi-concept runs use batch 1 so concepts do not blend (guide part 6)"
    elif ctx.algo == "dylora":
        why = "DyLoRA trains with batch 1"
    else:
        why = "batch 1 gives the most accurate results"
    size = d.set("train_batch_size", 1, "T-BATCH", why)
    if isinstance(size, int) and size > 4:
        d.warn("T-BATCH", f"batch size {size}: above 4 results generalise and VRAM use grows a lot")
    elif isinstance(size, int) and size > 1 and ctx.answers.multi_concept:
        d.warn("T-BATCH", "batch above 1 in a multi-concept run mixes concepts in one step")


def count_findings(subject: str, name: str, n: int) -> list[Finding]:
    """D-COUNT for one concept; shared by the planner and the dataset doctor."""
    if subject == "style":
        if n < 50:
            return [Finding("D-COUNT", "warn", f"{name!r}: {n} images; styles want 50-200 (125-150 is ideal)")]
        if n > 200:
            return [Finding("D-COUNT", "info", f"{name!r}: {n} images; more than 200 is rarely needed for a style")]
        return []
    if n < 8:
        return [Finding("D-COUNT", "warn", f"{name!r}: only {n} images, below the working minimum of 8")]
    if n < 15:
        return [Finding("D-COUNT", "warn", f"{name!r}: {n} images; fewer than 15 makes training hard (30 is ideal)")]
    if n > 50:
        return [Finding("D-COUNT", "info", f"{name!r}: {n} images; more than 50 is rarely needed")]
    return []


@rule("D-COUNT")
def image_counts(ctx: Context) -> None:
    for concept in ctx.concepts:
        ctx.decider.findings += count_findings(ctx.answers.subject, concept.name, concept.images)
