"""What kind of network, and how big (guide parts 4, 7 and 8)."""

from __future__ import annotations

import tomllib
from functools import cache
from typing import Any

from kohyawiz.decisions import Decision
from kohyawiz.networks import readable_args
from kohyawiz.resources import vendor_dir
from kohyawiz.rules.context import Context, rule

# Guide part 7's recommendations by purpose, first choice first.
RECOMMENDED = {
    "general": ("locon", "dylora", "ia3", "diag-oft"),
    "multi-concept": ("locon", "loha", "lokr"),
    "concepts": ("locon", "loha", "lokr", "glora"),
    "styles": ("locon", "glora", "ia3"),
}
LYCORIS_ALGOS = frozenset({"locon", "loha", "lokr", "glora", "ia3", "diag-oft", "boft", "full"})
OWN_PRESET = "kohyawiz-full"
"""A LyCORIS preset file kohyawiz writes: the `full` targets without the duplicate time-embedding
selection that breaks lycoris-lora 4.x on SD1/SD2 UNets."""
KNOWN_SUBJECT_RANK = 8  # guide part 4: a subject the model already knows needs little capacity
LOKR_FULL_DIM = 100000  # large enough that LoKr uses full matrices and `factor` sets the size


def purpose(ctx: Context) -> str:
    if ctx.answers.multi_concept:
        return "multi-concept"
    if ctx.answers.subject == "style":
        return "styles"
    if ctx.answers.subject == "concept":
        return "concepts"
    return "general"


@cache
def lycoris_facts() -> dict[str, Any]:
    return tomllib.loads((vendor_dir() / "lycoris.toml").read_text())


def lycoris_version(family: str) -> str:
    return str(lycoris_facts()["families"][family])


@rule("L-PURPOSE")
def choose_network(ctx: Context) -> None:
    d = ctx.decider
    why_purpose = purpose(ctx)
    recommended = RECOMMENDED[why_purpose]
    listed = ", ".join(recommended)
    chosen: str
    if ctx.answers.network is not None:
        chosen = ctx.answers.network
        d.record_plan(
            "network", chosen, "L-PURPOSE", f"your choice; for {why_purpose} the guide suggests {listed}", "user"
        )
        if chosen != "lora" and chosen not in recommended:
            d.info("L-PURPOSE", f"{chosen} is not among the guide's picks for {why_purpose} ({listed})")
    elif ctx.dit:
        chosen = "lora"
        d.record_plan("network", chosen, "F-MODULE", f"{ctx.spec.label} trains a LoRA with {ctx.spec.network_module}")
    elif ctx.answers.subject == "style":
        chosen = recommended[0]
        d.record_plan("network", chosen, "L-PURPOSE", f"styles suit LyCORIS; for styles the guide suggests {listed}")
    else:
        chosen = "lora"
        d.record_plan(
            "network",
            chosen,
            "L-PURPOSE",
            f"a standard LoRA is the guide's main path; LyCORIS picks for {why_purpose}: {listed}",
        )
    ctx.algo = chosen


@rule("L-DEFAULT")
def network_module(ctx: Context) -> None:
    d, algo = ctx.decider, ctx.algo
    if algo == "lora":
        d.set("network_module", "networks.lora", "L-DEFAULT", "sd-scripts' own LoRA")
        return
    if ctx.dit:
        return  # F-MODULE
    if algo == "dylora":
        d.set("network_module", "networks.dylora", "L-DEFAULT", "sd-scripts' own DyLoRA, the better-trodden path")
        return
    version = lycoris_version(ctx.family)
    d.set("network_module", "lycoris.kohya", "L-DEFAULT", f"{algo} comes from LyCORIS (lycoris-lora {version})")
    facts = lycoris_facts()["versions"][version]
    broken = facts["broken_presets"].get(ctx.family, [])
    if "full" in broken:
        preset = OWN_PRESET
        why = (
            f"the full preset's targets, written as a file: lycoris-lora {version}'s built-in full "
            f"fails on {ctx.family} with a duplicated time-embedding module"
        )
    else:
        preset = "full"
        why = "preset full trains every layer LyCORIS can reach, a sound default"
    ctx.notes["lycoris_version"] = version
    ctx.notes["lycoris_preset"] = preset
    d.record_plan("lycoris_preset", preset, "L-DEFAULT", why)


def _alpha(ctx: Context, dim: int, rule_id: str) -> tuple[float, str]:
    if ctx.adaptive:
        return 1.0, f"{rule_id}: alpha 1 with an adaptive optimizer"
    return float(max(1, dim // 2)), f"{rule_id}: alpha half the dim without an adaptive optimizer"


@rule("T-RANK")
def lora_rank(ctx: Context) -> None:
    if ctx.algo != "lora" or (ctx.dit and ctx.spec.recipe):
        return  # F-RANK: a DiT's rank and alpha come with its doc's learning rate
    d = ctx.decider
    if ctx.answers.model.knows_subject and not ctx.answers.multi_concept:
        dim, why = KNOWN_SUBJECT_RANK, f"{KNOWN_SUBJECT_RANK}: the model already knows something close"
    else:
        dim, why = (
            32,
            "32 suits most subjects" + (" and is the multi-concept first try" if ctx.answers.multi_concept else ""),
        )
    if ctx.answers.subject == "style":
        why += "; styles stay at 32 or below (L-STYLE)"
    dim = d.set("network_dim", dim, "T-RANK", why)
    if ctx.adaptive:
        d.set("network_alpha", 1.0, "T-RANK", "alpha 1 with an adaptive optimizer")
    else:
        d.set("network_alpha", float(dim), "T-RANK", "alpha equal to the rank")
    warn_rank(ctx, dim)


def warn_rank(ctx: Context, dim: Any) -> None:
    if not isinstance(dim, int):
        return
    if dim >= 128:
        ctx.decider.warn("T-RANK", f"rank {dim} is overkill: bigger files and often worse results")
    elif dim > 64:
        ctx.decider.warn("T-RANK", f"rank {dim}: above 64 is rarely useful")


@rule("L-STYLE")
def style_rank(ctx: Context) -> None:
    if ctx.answers.subject != "style":
        return
    dim = ctx.decider.get("network_dim")
    if ctx.algo not in ("lokr", "dylora", "ia3", "full") and isinstance(dim, int) and dim > 32:
        ctx.decider.warn("L-STYLE", f"rank {dim} for a style: LyCORIS styles do best at 32 or below")


def _lycoris_common(ctx: Context, dim: int, dim_rule: str, dim_why: str) -> list[str]:
    d = ctx.decider
    dim = d.set("network_dim", dim, dim_rule, dim_why)
    alpha, why = _alpha(ctx, dim if isinstance(dim, int) else 32, dim_rule)
    d.set("network_alpha", alpha, dim_rule, why)
    args = [f"algo={ctx.algo}", f"preset={_preset_arg(ctx)}"]
    conv_dim, conv_alpha = conv_settings(ctx)
    return [*args, f"conv_dim={conv_dim}", f"conv_alpha={conv_alpha}"]


def _preset_arg(ctx: Context) -> str:
    preset = ctx.notes.get("lycoris_preset", "full")
    return str(ctx.out_dir / "lycoris_preset.toml") if preset == OWN_PRESET else preset


def conv_settings(ctx: Context) -> tuple[int, float]:
    ctx.decider.record_plan("conv_dim", 16, "T-CONV", "conv rank 16; more gives diminishing returns")
    ctx.decider.record_plan("conv_alpha", 1.0, "T-CONV", "conv alpha 1")
    return 16, 1.0


@rule("L-LOCON")
def locon(ctx: Context) -> None:
    if ctx.algo not in ("locon", "glora"):
        return
    args = _lycoris_common(ctx, 32, "L-LOCON", "dim 32 recommended, 64 at most")
    ctx.decider.set("network_args", args, "L-LOCON", f"LyCORIS {ctx.algo} with conv layers")


@rule("L-LOHA")
def loha(ctx: Context) -> None:
    if ctx.algo != "loha":
        return
    args = _lycoris_common(ctx, 16, "L-LOHA", "dim 16: LoHa is capped at 32 and its Hadamard product squares the rank")
    ctx.decider.set("network_args", args, "L-LOHA", "LyCORIS LoHa with conv layers")


@rule("L-LOKR")
def lokr(ctx: Context) -> None:
    if ctx.algo != "lokr":
        return
    d = ctx.decider
    d.set("network_dim", LOKR_FULL_DIM, "L-LOKR", "a full-size dim, so the factor alone sets the file size")
    d.set("network_alpha", 1.0, "L-LOKR", "alpha has no effect with full matrices")
    factor = -1 if ctx.answers.lokr_size == "small" else 8
    why = "factor -1: the smallest file" if factor == -1 else "factor 8: a large, LoRA-like file"
    d.record_plan("lokr_factor", factor, "L-LOKR", why)
    args = [
        f"algo={ctx.algo}",
        f"preset={_preset_arg(ctx)}",
        f"conv_dim={LOKR_FULL_DIM}",
        "conv_alpha=1.0",
        f"factor={factor}",
    ]
    d.set("network_args", args, "L-LOKR", f"LyCORIS LoKr, {why}")


@rule("L-DYLORA")
def dylora(ctx: Context) -> None:
    if ctx.algo != "dylora":
        return
    d = ctx.decider
    dim = d.set("network_dim", 128, "L-DYLORA", "a large dim (about 128) to search ranks in")
    alpha, why = _alpha(ctx, dim if isinstance(dim, int) else 128, "L-DYLORA")
    d.set("network_alpha", alpha, "L-DYLORA", why)
    d.set("network_args", ["unit=4"], "L-DYLORA", "ranks trained in blocks of 4; dim is a multiple of it")
    d.set("gradient_accumulation_steps", 4, "L-DYLORA", "DyLoRA wants gradient accumulation with batch 1")


@rule("L-IA3")
def ia3(ctx: Context) -> None:
    if ctx.algo != "ia3":
        return
    d = ctx.decider
    d.set("network_dim", 32, "L-IA3", "iA3 ignores the dim, but it must be above 0 for layers to be trained")
    d.set("network_alpha", 1.0, "L-IA3", "iA3 ignores alpha")
    args = ["algo=ia3", f"preset={_preset_arg(ctx)}", "conv_dim=32", "conv_alpha=1.0"]
    d.set("network_args", args, "L-IA3", "LyCORIS iA3 over the full preset (the ia3 preset matches nothing)")


@rule("K-LYCORIS")
def other_lycoris(ctx: Context) -> None:
    """diag-oft, boft and full: settings fixed by the library rather than by the guide."""
    d = ctx.decider
    if ctx.algo in ("diag-oft", "boft"):
        d.set("network_dim", 32, "K-LYCORIS", "OFT block size 32; BOFT needs at least 16")
        d.set("network_alpha", 1.0, "K-LYCORIS", "OFT ignores alpha")
        args = [f"algo={ctx.algo}", f"preset={_preset_arg(ctx)}", "conv_dim=32", "conv_alpha=1.0"]
        d.set("network_args", args, "K-LYCORIS", f"LyCORIS {ctx.algo}")
    elif ctx.algo == "full":
        d.set("network_dim", 1, "K-LYCORIS", "native fine-tuning ignores dim, but it must be above 0")
        d.set("network_alpha", 1.0, "K-LYCORIS", "native fine-tuning ignores alpha")
        args = ["algo=full", f"preset={_preset_arg(ctx)}", "conv_dim=1", "conv_alpha=1.0"]
        d.set("network_args", args, "K-LYCORIS", "LyCORIS native fine-tuning")
        d.warn("K-LYCORIS", "native fine-tuning writes very large files (hundreds of MB to GB)")


@rule("T-CONV")
def conv_check(ctx: Context) -> None:
    for item in ctx.decider.get("network_args") or []:
        key, _, value = str(item).partition("=")
        if key == "conv_dim" and ctx.algo not in ("lokr", "ia3", "diag-oft", "boft", "full"):
            try:
                if int(value) > 16:
                    ctx.decider.warn("T-CONV", f"conv_dim {value}: above 16 gives diminishing returns")
            except ValueError:
                pass


@rule("T-NORMS")
def weight_norms(ctx: Context) -> None:
    if ctx.answers.with_other_loras:
        ctx.decider.set("scale_weight_norms", 1.0, "T-NORMS", "keeps the LoRA friendly to other LoRAs")
    else:
        ctx.decider.omit("scale_weight_norms", "T-NORMS", "used on its own: no weight scaling")


@rule("T-DROPOUT")
def dropout(ctx: Context) -> None:
    ctx.decider.omit("network_dropout", "T-DROPOUT", "no dropout (sd-scripts' default)")


def _render_option(kind: str | None, value: object) -> str | None:
    if isinstance(value, bool):
        if kind == "flag":
            return "True" if value else None
        return "True" if value else "False"
    try:
        if kind == "float" and isinstance(value, int | float | str):
            return repr(float(value))
        if kind == "int" and isinstance(value, int | float | str):
            return str(int(float(value)))
    except ValueError:
        pass  # left as written; the network-args check names the problem
    return str(value)


@rule("K-NETARGS")
def apply_network_options(ctx: Context) -> None:
    """Merge the person's network options over the rules' network_args (an override of the whole
    list wins over both)."""
    options = ctx.answers.network_options
    d = ctx.decider
    if not options or "network_args" in d.overrides:
        return
    module = str(d.get("network_module") or "networks.lora")
    current = [str(a) for a in d.get("network_args") or []]
    algo = next((a.split("=", 1)[1] for a in current if a.startswith("algo=")), None)
    kinds = readable_args(module, algo)
    merged = {a.split("=", 1)[0]: a.split("=", 1)[1] for a in current if "=" in a}
    for key, value in options.items():
        rendered = _render_option(kinds.get(key), value)
        if rendered is None:
            merged.pop(key, None)
        else:
            merged[key] = rendered
    items = [f"{k}={v}" for k, v in merged.items()]
    previous = d.decisions.get("network_args")
    over = f"{previous.rule}'s" if previous else "the module's defaults"
    d.record(Decision("network_args", items, "K-NETARGS", f"your network options {sorted(options)} merged over {over}",
                      "user"))  # fmt: skip
