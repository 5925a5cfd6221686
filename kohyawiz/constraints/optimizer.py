"""The optimizer and the learning-rate schedule (library/train_util.py get_optimizer,
get_scheduler_fix)."""

from __future__ import annotations

import ast

from kohyawiz.constraints.base import Checker, constraint
from kohyawiz.values import ADAM_LEARNING_RATE, ADAPTIVE_ARGS

ADAPTIVE_TYPES = ("prodigy", "dadapt")
"""optimizer_type prefixes sd-scripts treats as adaptive (lr about 1)."""
_NO_WARMUP = ("constant", "adafactor")


def _adaptive(optimizer_type: object) -> bool:
    return str(optimizer_type or "").lower().startswith(ADAPTIVE_TYPES)


def literal_problem(entry: object) -> str | None:
    """sd-scripts splits `key=value` on '=' once and reads the value as a Python literal."""
    text = str(entry)
    if text.count("=") != 1:
        return f"{text!r} must be exactly one key=value"
    key, value = text.split("=")
    if not key.strip():
        return f"{text!r} has no key"
    try:
        ast.literal_eval(value)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return f"{text!r}: {value!r} is not a Python literal (quote strings: key='text')"
    return None


@constraint("C-KWARGS", "library/train_util.py get_optimizer, get_scheduler_fix",
            "optimizer_args and lr_scheduler_args are key=value with exactly one '=' and a Python literal value")  # fmt: skip
def kwargs_are_literals(c: Checker) -> None:
    for key in ("optimizer_args", "lr_scheduler_args"):
        for entry in c.value(key) or []:
            problem = literal_problem(entry)
            if problem:
                c.refuse("C-KWARGS", f"{key} {problem}", "fix the entry, e.g. weight_decay=0.1 or betas=0.9,0.99")
                return


@constraint("C-OPTIMIZER", "library/train_util.py get_optimizer",
            "an optimizer_type set by hand takes optimizer_args and a learning rate that suit it")  # fmt: skip
def optimizer_settings_follow_type(c: Checker) -> None:
    chosen = c.value("optimizer_type")
    if not c.explicit("optimizer_type") or chosen is None:
        return
    adaptive = _adaptive(chosen)
    args = c.value("optimizer_args")
    if args == list(ADAPTIVE_ARGS) and not c.explicit("optimizer_args") and not str(chosen).lower().startswith("prodigy"):
        c.give_way("optimizer_args", None, "C-OPTIMIZER",
                   f"those arguments are Prodigy's; {chosen} gets its own defaults")  # fmt: skip
    lr = c.number("learning_rate", 0)
    if not c.explicit("learning_rate"):
        if adaptive and lr < 0.1:
            c.give_way("learning_rate", 1.0, "C-OPTIMIZER", f"{chosen} finds its step size itself: lr 1")
        elif not adaptive and lr >= 0.1:
            c.give_way("learning_rate", ADAM_LEARNING_RATE, "C-OPTIMIZER", f"{chosen} needs a small learning rate")
    c.warn("C-OPTIMIZER", f"optimizer_type {chosen} set by hand: the guide's optimizer rules (T-OPT) follow "
                          "--optimizer; check learning_rate and lr_scheduler yourself")  # fmt: skip


@constraint("C-OPT-FLAGS", "library/train_util.py get_optimizer",
            "use_8bit_adam / use_lion_optimizer cannot be combined with optimizer_type")  # fmt: skip
def legacy_optimizer_flags(c: Checker) -> None:
    for flag in ("use_8bit_adam", "use_lion_optimizer"):
        if c.on(flag) and c.value("optimizer_type"):
            c.refuse("C-OPT-FLAGS", f"{flag} and optimizer_type are both set",
                     "drop the old flag and choose --optimizer (e.g. adamw8bit) instead")  # fmt: skip
            return


@constraint("C-FUSED", "library/train_util.py get_optimizer",
            "fused_backward_pass works only with Adafactor and no gradient accumulation")  # fmt: skip
def fused_backward_pass(c: Checker) -> None:
    if not c.on("fused_backward_pass"):
        return
    if str(c.value("optimizer_type", "")).lower() != "adafactor":
        c.refuse("C-FUSED", "fused_backward_pass needs optimizer_type Adafactor", "drop fused_backward_pass")
    elif c.number("gradient_accumulation_steps", 1) > 1:
        c.refuse("C-FUSED", "fused_backward_pass does not work with gradient accumulation",
                 "set gradient_accumulation_steps=1 or drop fused_backward_pass")  # fmt: skip


@constraint("C-ADAPTIVE-LR", "library/train_util.py get_optimizer",
            "adaptive optimizers want lr about 1, and use only the first of several learning rates")  # fmt: skip
def adaptive_learning_rates(c: Checker) -> None:
    if not _adaptive(c.value("optimizer_type")):
        return
    lr = c.value("learning_rate")
    if isinstance(lr, int | float) and lr <= 0.1:
        c.warn("C-ADAPTIVE-LR", f"learning_rate {lr:g} with {c.value('optimizer_type')}: adaptive optimizers "
                                "expect about 1.0 (sd-scripts warns too)")  # fmt: skip
    rates = {c.value(k) for k in ("learning_rate", "unet_lr") if c.value(k) is not None}
    te = c.value("text_encoder_lr")
    rates |= set(te) if isinstance(te, list) else {te} if te is not None else set()
    if len(rates) > 1:
        c.warn("C-ADAPTIVE-LR", "several learning rates with an adaptive optimizer: only the first takes effect")


@constraint("C-WARMUP", "library/train_util.py get_scheduler_fix",
            "constant and adafactor schedulers refuse warmup steps; adafactor needs the Adafactor optimizer")  # fmt: skip
def scheduler_warmup(c: Checker) -> None:
    scheduler = str(c.value("lr_scheduler", "constant"))
    if c.value("lr_scheduler_type"):
        return
    if scheduler in _NO_WARMUP and c.number("lr_warmup_steps", 0) > 0:
        c.resolve("C-WARMUP", f"lr_scheduler {scheduler} takes no warmup steps",
                  [("lr_scheduler", "constant_with_warmup"), ("lr_warmup_steps", None)], stops=True,
                  fix="use lr_scheduler=constant_with_warmup, or drop lr_warmup_steps")  # fmt: skip
    if scheduler == "adafactor" and str(c.value("optimizer_type", "")).lower() != "adafactor":
        c.refuse("C-WARMUP", "lr_scheduler adafactor needs optimizer_type Adafactor", "choose another lr_scheduler")
