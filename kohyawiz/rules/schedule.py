"""How long to train and how concepts share an epoch (guide parts 4, 5, 6 and 8)."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from kohyawiz.buckets import BucketCount, BucketSettings, count_batches
from kohyawiz.dataset.counts import count_findings
from kohyawiz.rules.context import ConceptPlan, Context, rule
from kohyawiz.values import parse_resolution

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


Getter = Callable[[str, Any], Any]
DEFAULT_TRAIN_STEPS = 1600
"""What sd-scripts trains when neither max_train_epochs nor max_train_steps is set."""


def bucket_settings(get: Getter) -> BucketSettings:
    return BucketSettings(
        resolution=parse_resolution(get("resolution", "512")),
        enable_bucket=bool(get("enable_bucket", False)),
        min_bucket_reso=int(get("min_bucket_reso", 256)),
        max_bucket_reso=int(get("max_bucket_reso", 1024)),
        bucket_reso_steps=int(get("bucket_reso_steps", 64)),
        bucket_no_upscale=bool(get("bucket_no_upscale", False)),
        batch_size=int(get("train_batch_size", 1)),
    )


def training_images(images: int, validation_split: float) -> int:
    """Images a subset keeps for training once sd-scripts sets validation_split of them aside
    (library/train_util.py split_train_val: the first ceil(n x (1 - split)) after a seeded shuffle)."""
    return math.ceil(images * (1 - validation_split)) if validation_split > 0 else images


@dataclass(frozen=True)
class StepCount:
    counted: BucketCount
    exact: bool
    """Every image size was read (and no random validation split changes which ones train)."""
    steps_per_epoch: int
    epochs: int
    total: int
    by_steps: bool
    """max_train_steps sets the length (no max_train_epochs): sd-scripts counts the epochs from it."""


def count_steps(get: Getter, concepts: Sequence[ConceptPlan], processes: int, *, by_steps: bool) -> StepCount:
    """Steps as sd-scripts counts them: buckets of (image x repeats), batches per bucket, then
    ceil(batches / processes / accumulation) per epoch (train_network.py). ValueError when an image
    fits no bucket."""
    settings = bucket_settings(get)
    split = float(get("validation_split", 0.0) or 0.0)
    exact = all(c.sizes is not None and len(c.sizes) == c.images for c in concepts)
    pairs: list[tuple[tuple[int, int], int]] = []
    for concept in concepts:
        kept = training_images(concept.images, split)
        sizes = concept.sizes if exact and concept.sizes is not None else [settings.resolution] * concept.images
        if kept != concept.images and len(set(sizes)) > 1:
            exact = False  # which sizes train depends on sd-scripts' shuffle
        pairs += [(size, concept.repeats) for size in sizes[:kept]]
    counted = count_batches(pairs, settings)
    accumulation = int(get("gradient_accumulation_steps", 1))
    steps_per_epoch = math.ceil(counted.batches / processes / accumulation) if counted.batches else 0
    if by_steps and steps_per_epoch:
        total = int(get("max_train_steps", DEFAULT_TRAIN_STEPS) or DEFAULT_TRAIN_STEPS)
        epochs = math.ceil(total / steps_per_epoch)
    else:
        epochs = int(get("max_train_epochs", 1) or 1)
        total = epochs * steps_per_epoch
    return StepCount(counted, exact, steps_per_epoch, epochs, total, by_steps and steps_per_epoch > 0)


def counted_in_steps(get: Getter, epochs_set_by_hand: bool) -> bool:
    """The run's length comes from max_train_steps: it is set and no max_train_epochs is set by
    hand (a rule's max_train_epochs gives way to it, C-LENGTH), or neither is set."""
    if epochs_set_by_hand:
        return False
    return get("max_train_steps", None) is not None or get("max_train_epochs", None) is None


def step_cadence(total_steps: int) -> int:
    """save_every_n_steps that saves about 10 checkpoints over `total_steps`."""
    return max(1, math.ceil(total_steps / CHECKPOINTS))


def _count(ctx: Context) -> StepCount | None:
    d = ctx.decider
    by_steps = counted_in_steps(d.get, "max_train_epochs" in d.overrides)
    try:
        return count_steps(d.get, ctx.concepts, ctx.answers.processes, by_steps=by_steps)
    except ValueError:
        return None  # an image no bucket holds: the figures refuse the plan and say which


def _epochs(ctx: Context, count: StepCount | None) -> int:
    return count.epochs if count is not None else max(1, int(ctx.decider.get("max_train_epochs", 1) or 1))


VALIDATION_SPLIT = 0.1
VALIDATION_SEED = 42
"""Fixed, so the images set aside are the same in every launch (sd-scripts shuffles the training
and the validation set apart with it: library/train_util.py split_train_val)."""
SPARE_IMAGES = 40
"""Every concept this large keeps 36 or more images for training when a tenth is set aside (the
guide's working set for a character is 15-50; below this the images are worth more trained on)."""


def validation_split_for(smallest: int, asked: bool) -> float | None:
    """The share of images set aside, from the smallest concept's count: a tenth when every concept
    can spare it, or (asked for) enough that each concept gives one image and keeps one."""
    if smallest >= SPARE_IMAGES:
        return VALIDATION_SPLIT
    if not asked or smallest < 2:
        return None
    return max(VALIDATION_SPLIT, math.ceil(100 / smallest) / 100)


@rule("K-VALIDATE")
def validation(ctx: Context) -> None:
    """sd-scripts' own validation (train_network.py, main only) on images set aside with a fixed
    seed; epoch by epoch, since a validation by steps in the first epoch reports the running mean
    of every pass so far (library/train_util.py LossRecorder) and cannot rank checkpoints."""
    d, asked = ctx.decider, ctx.answers.validation
    with_images = [c.images for c in ctx.concepts if c.images]
    smallest = min(with_images) if with_images else 0
    epochs = _epochs(ctx, _count(ctx))
    why_not = None
    if ctx.interface.arg(ctx.script, "validation_split") is None:
        why_not = f"sd-scripts {ctx.interface.version} has no validation (it came with sd-scripts main)"
    elif asked is False:
        why_not = "no validation asked for (--no-validate)"
    elif epochs < 2:
        why_not = "a single epoch: one validation at its end cannot rank checkpoints"
    split = None if why_not else validation_split_for(smallest, bool(asked))
    if why_not is None and split is None:
        why_not = (
            f"the smallest concept has {smallest} images: fewer than {SPARE_IMAGES} are worth more trained on "
            "(--validate sets some aside anyway)"
            if smallest >= 2
            else "a concept needs 2 images or more to set one aside"
        )
    if why_not is not None:
        if asked:
            d.warn("K-VALIDATE", f"--validate: {why_not}")
        if d.omit("validation_split", "K-VALIDATE", why_not):
            _fixed_seed(ctx)  # set by hand: the images set aside must still be the same in every launch
        return
    kept = {c.name: training_images(c.images, split or 0.0) for c in ctx.concepts}
    d.set("validation_split", split, "K-VALIDATE",
          f"{split:g} of each concept's images set aside for validation (smallest {smallest} keeps "
          f"{min(kept.values())} for training)" + ("; asked for with --validate" if asked else ""))  # fmt: skip
    _fixed_seed(ctx)


def _fixed_seed(ctx: Context) -> None:
    """Without a validation_seed sd-scripts shuffles the training and the validation set apart
    with two different random orders, so they overlap; a fixed one keeps them apart and the same."""
    if ctx.interface.arg(ctx.script, "validation_seed") is not None:
        ctx.decider.set("validation_seed", VALIDATION_SEED, "K-VALIDATE",
                        "a fixed seed: the same images set aside in every launch, none of them trained on")  # fmt: skip


def validation_cadence(ctx: Context) -> None:
    """Validate at every checkpoint saved by epochs, so each has a validation loss beside it."""
    d = ctx.decider
    if not d.get("validation_split"):
        return
    every = d.get("save_every_n_epochs")
    if every:
        d.set("validate_every_n_epochs", every, "K-VALIDATE", "a validation loss with every saved checkpoint")
    else:
        # Not validate_every_n_steps: sd-scripts' step validation reports a mean over every pass of the first
        # epoch (library/train_util.py LossRecorder appends there), which cannot rank checkpoints; its epoch
        # validation is one pass's own mean.
        d.omit("validate_every_n_epochs", "K-VALIDATE", "checkpoints are saved by steps: validated at each epoch's end")


@rule("T-SAVE")
def save_every(ctx: Context) -> None:
    """About 10 checkpoints to choose from (guide part 4): every n epochs, or every n steps when the
    run is counted in steps (a max_train_steps override) or has too few epochs for 10 saves."""
    d = ctx.decider
    by_hand = {key for key in ("save_every_n_epochs", "save_every_n_steps") if key in d.overrides}
    count = _count(ctx)
    epochs = _epochs(ctx, count)
    total = count.total if count is not None else 0
    steps_known = ctx.interface.arg(ctx.script, "save_every_n_steps") is not None
    few = checkpoints(epochs, save_cadence(epochs)) < FEWEST_CHECKPOINTS
    if steps_known and total >= 2 and "save_every_n_epochs" not in by_hand and (few or (count and count.by_steps)):
        every = step_cadence(total)
        saved = checkpoints(total, every)
        why = (
            f"the run is counted in steps (max_train_steps {total})"
            if count is not None and count.by_steps
            else f"{epochs} epochs are too few for about {CHECKPOINTS} checkpoints"
        )
        d.omit("save_every_n_epochs", "T-SAVE", "checkpoints are counted in steps instead")
        d.set("save_every_n_steps", every, "T-SAVE", f"{why}: every {every} of {total} steps saves {saved}")
        validation_cadence(ctx)
        return
    if epochs <= 1:
        d.omit("save_every_n_epochs", "T-SAVE", "a single epoch: only the final model is saved")
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
    validation_cadence(ctx)


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
