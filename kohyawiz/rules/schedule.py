"""How long to train and how concepts share an epoch (guide parts 4, 5, 6 and 8)."""

from __future__ import annotations

import math

from kohyawiz.dataset.counts import count_findings
from kohyawiz.rules.context import Context, rule

LORA_PASSES = 100
STYLE_PASSES = 35  # guide part 8: about 30-40 for styles
CHECKPOINTS = 10
FEWEST_CHECKPOINTS = 7
"""Below this many saved models there is too little to choose from (guide part 4: about 10)."""
PASS_TOLERANCE = 0.15
OVERBAKE_RATIO = 4


def target_passes(ctx: Context) -> int:
    return STYLE_PASSES if ctx.answers.subject == "style" else LORA_PASSES


def nearest(value: float) -> int:
    """The nearest whole number, halves up, as the guide rounds (Python's round() goes to even)."""
    return math.floor(value + 0.5)


def epochs_for(target: int, repeats: int) -> int:
    return max(1, nearest(target / repeats))


def checkpoints(epochs: int, every: int) -> int:
    """Models sd-scripts saves: every `every` epochs before the last, then the last one."""
    return (epochs - 1) // every + 1


def save_cadence(epochs: int) -> int:
    """The save_every_n_epochs whose checkpoint count is nearest 10 (more when two are as near)."""
    return min(range(1, epochs + 1), key=lambda every: (abs(checkpoints(epochs, every) - CHECKPOINTS), every))


def reaches_targets(target: int, repeats: int) -> bool:
    epochs = epochs_for(target, repeats)
    near = abs(repeats * epochs - target) <= PASS_TOLERANCE * target
    return near and checkpoints(epochs, save_cadence(epochs)) >= FEWEST_CHECKPOINTS


def repeats_for_targets(target: int) -> int:
    """Repeats per epoch that give the target passes in about 10 epochs, one checkpoint each."""
    return max(1, nearest(target / CHECKPOINTS))


@rule("M-BALANCE")
def balance(ctx: Context) -> None:
    """Every concept gets the same image passes per epoch as the largest one.

    Guide part 6's recipe also multiplies by the epoch count, which agrees with its own goal only
    at one epoch; this implements the goal.
    """
    d = ctx.decider
    asked = {c.name: c for c in ctx.answers.concepts}
    largest = max(ctx.concepts, key=lambda c: c.images)
    base, base_why = _pace(ctx, asked[largest.name].repeats, asked[largest.name].folder_repeats)
    for concept in ctx.concepts:
        key = f"concepts.{concept.name}.num_repeats"
        explicit = asked[concept.name].repeats
        if explicit is not None:
            concept.repeats = explicit
            d.record_plan(key, explicit, "M-BALANCE", "repeats set explicitly for this concept", "user")
            continue
        if concept is largest or not ctx.answers.multi_concept:
            rule_id, why = base_why
            if ctx.answers.multi_concept:
                why += f"; the largest concept ({concept.images} images) sets the pace"
            concept.repeats = d.record_plan(key, base, rule_id, why)
            continue
        if concept.images == 0:
            repeats = base
            why = "no images yet; balanced once images are counted"
        else:
            repeats = max(1, nearest(largest.images * base / concept.images))
            why = (
                f"nearest({largest.images} x {base} / {concept.images}) = {repeats}: as many image "
                f"passes per epoch as {largest.name!r}"
            )
        concept.repeats = d.record_plan(key, repeats, "M-BALANCE", why)


def _pace(ctx: Context, explicit: int | None, from_folder: int | None) -> tuple[int, tuple[str, str]]:
    """Repeats of the largest concept, and the rule and reason for them.

    The folder's N is kept when it reaches the guide's targets (passes within 15%, about 10
    checkpoints); otherwise dataset.toml gets a num_repeats that does (the folder keeps its name).
    """
    if explicit is not None:
        return explicit, ("M-BALANCE", "repeats set explicitly for this concept")
    if from_folder is None:
        return 1, ("M-BALANCE", "1, the default")
    target = target_passes(ctx)
    if "max_train_epochs" in ctx.decider.overrides or reaches_targets(target, from_folder):
        return from_folder, ("M-BALANCE", f"{from_folder} from the folder name")
    chosen = repeats_for_targets(target)
    epochs = epochs_for(target, from_folder)
    return chosen, (
        "T-PASSES",
        f"the folder says {from_folder}, which reaches {from_folder * epochs} passes in {epochs} epochs with "
        f"{checkpoints(epochs, save_cadence(epochs))} checkpoints; num_repeats {chosen} in dataset.toml gives "
        f"about {target} passes over {epochs_for(target, chosen)} epochs, one checkpoint each "
        f"(the folder is not renamed)",
    )


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
    epochs = epochs_for(target, base)
    kind = "a style" if ctx.answers.subject == "style" else "a LoRA"
    chosen = d.set(
        "max_train_epochs",
        epochs,
        "T-PASSES",
        f"about {target} passes per image for {kind}: nearest({target} / {base} repeats) = {epochs} epochs",
    )
    d.omit("max_train_steps", "T-PASSES", "training is counted in epochs; max_train_epochs overrides steps")
    if isinstance(chosen, int) and chosen > 0 and abs(chosen * base - target) > PASS_TOLERANCE * target:
        d.warn(
            "T-PASSES",
            f"{chosen} epochs x {base} repeats = {chosen * base} passes per image; the guide aims at about "
            f"{target} for {kind}",
        )


@rule("T-SAVE")
def save_every(ctx: Context) -> None:
    d = ctx.decider
    epochs = d.get("max_train_epochs")
    epochs = int(epochs) if isinstance(epochs, int) and epochs > 0 else 1
    if epochs <= 1:
        d.omit("save_every_n_epochs", "T-SAVE", "a single epoch: checkpoints are counted in steps instead")
        return
    every = save_cadence(epochs)
    saved = d.set(
        "save_every_n_epochs",
        every,
        "T-SAVE",
        f"every {every} of {epochs} epochs saves {checkpoints(epochs, every)} checkpoints to pick the sweet spot "
        f"from (about {CHECKPOINTS})",
    )
    if isinstance(saved, int) and saved > 0 and checkpoints(epochs, saved) < FEWEST_CHECKPOINTS:
        d.warn("T-SAVE", f"saving every {saved} epochs keeps only {checkpoints(epochs, saved)} checkpoints; "
                         f"the guide wants about {CHECKPOINTS} to choose from")  # fmt: skip


def step_cadence(total_steps: int, epochs: int) -> int | None:
    """save_every_n_steps for runs whose epochs are too few for about 10 checkpoints."""
    if total_steps < 2 or checkpoints(epochs, save_cadence(epochs)) >= FEWEST_CHECKPOINTS:
        return None
    return max(1, math.ceil(total_steps / CHECKPOINTS))


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


@rule("D-COUNT")
def image_counts(ctx: Context) -> None:
    for concept in ctx.concepts:
        ctx.decider.findings += count_findings(ctx.answers.subject, concept.name, concept.images)
