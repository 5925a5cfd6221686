"""The guide's caps and cautions, checked on the values a plan will really use.

A rule warns about the value it proposes; the person, a preset or an import can set the same key
to anything. These checks read the effective values after overrides and constraints, so a
caution holds whatever the source of the value (a value a rule chose never trips them). Each is
registered under the id of the rule whose cap or caution it holds (CAUTIONS), and runs once the
plan's values are final (plan.py, after the constraints).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kohyawiz.decisions import Decider

# Rank caps per algorithm (guide part 7), beside T-RANK's general cap for LoRA.
RANK_CAPS = {"locon": (64, "L-LOCON", "LoCon dim 64 at most"), "glora": (64, "L-LOCON", "dim 64 at most"),
             "loha": (32, "L-LOHA", "LoHa dim 32 at most: the Hadamard product squares the rank")}  # fmt: skip
_DROPOUTS = ("network_dropout", "rank_dropout", "module_dropout")


Caution = Callable[[Decider, str], Any]
CAUTIONS: dict[str, Caution] = {}
"""Rule id -> the check of that rule's caps on the values the plan will use."""


def caution(rule_id: str) -> Callable[[Caution], Caution]:
    def register(check: Caution) -> Caution:
        if rule_id in CAUTIONS:
            raise RuntimeError(f"two cautions for {rule_id}")
        CAUTIONS[rule_id] = check
        return check

    return register


def _explicit(d: Decider, key: str) -> bool:
    found = d.decisions.get(key)
    return found is not None and found.source != "rule" and found.value is not None


def _network_values(d: Decider) -> dict[str, str]:
    args = [str(a) for a in d.get("network_args") or []]
    return dict(a.split("=", 1) for a in args if "=" in a)


@caution("T-FORMAT")
def format_caution(d: Decider, algo: str) -> None:
    saved_as = d.get("save_model_as")
    if saved_as in ("ckpt", "pt"):
        d.warn("T-FORMAT", f"save_model_as {saved_as}: such files can run code when loaded; prefer safetensors")


@caution("T-RANK")
def rank_caution(d: Decider, algo: str) -> None:
    dim = d.get("network_dim")
    if algo not in RANK_CAPS or not _explicit(d, "network_dim") or not isinstance(dim, int):
        return
    cap, rule_id, why = RANK_CAPS[algo]
    if dim > cap:
        d.warn(rule_id, f"network_dim {dim} for {algo}: {why}")


@caution("T-PRECISION")
def precision_caution(d: Decider, algo: str) -> None:
    for full in ("full_fp16", "full_bf16"):
        if _explicit(d, full) and d.get(full):
            d.warn("T-PRECISION", f"{full}: full half precision trains worse than mixed precision")
    mixed, saved = d.get("mixed_precision"), d.get("save_precision")
    if (_explicit(d, "save_precision") or _explicit(d, "mixed_precision")) and mixed in ("fp16", "bf16") and saved != mixed:
        d.warn("T-PRECISION", f"save_precision {saved} differs from mixed_precision {mixed}: keep them alike")


@caution("T-SNR")
def noise_caution(d: Decider, algo: str) -> None:
    offset = d.get("noise_offset")
    if _explicit(d, "noise_offset") and isinstance(offset, int | float) and offset > 0:
        d.warn("T-SNR", f"noise_offset {offset:g}: the guide trains without noise offset")
    gamma = d.get("min_snr_gamma")
    if _explicit(d, "min_snr_gamma") and isinstance(gamma, int | float) and not 1 <= gamma <= 20:
        d.warn("T-SNR", f"min_snr_gamma {gamma:g}: 5 is the known good value")


@caution("T-DROPOUT")
def dropout_caution(d: Decider, algo: str) -> None:
    values = _network_values(d)
    set_here = [k for k in _DROPOUTS if (k == "network_dropout" and _explicit(d, k)) or k in values]
    if set_here:
        d.warn("T-DROPOUT", f"{', '.join(set_here)} set: the guide trains without dropout")


@caution("T-OPT")
def learning_rate_caution(d: Decider, algo: str) -> None:
    optimizer = str(d.get("optimizer_type") or "").lower()
    lr = d.get("learning_rate")
    adaptive = optimizer.startswith(("prodigy", "dadapt"))
    if adaptive and _explicit(d, "learning_rate") and isinstance(lr, int | float) and lr > 0.1 and lr != 1.0:
        d.warn("T-OPT", f"learning_rate {lr:g} with {d.get('optimizer_type')}: adaptive optimizers run at lr 1")


def apply_cautions(d: Decider, algo: str) -> None:
    for check in CAUTIONS.values():
        check(d, algo)
