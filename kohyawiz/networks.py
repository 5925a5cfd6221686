"""network_args as the network modules read them (vendor/networks.toml).

Every value reaches the module as a string split at the first '='; booleans are false only for
the string "false", and a few keys treat any non-empty value as true.
"""

from __future__ import annotations

import tomllib
from functools import cache
from typing import Any

from kohyawiz.resources import vendor_dir


@cache
def _modules() -> dict[str, Any]:
    return dict(tomllib.loads((vendor_dir() / "networks.toml").read_text())["modules"])


def known_modules() -> tuple[str, ...]:
    return tuple(_modules())


def readable_args(module: str, algo: str | None = None) -> dict[str, str]:
    spec = _modules().get(module)
    if spec is None:
        return {}
    args = dict(spec["args"])
    if algo is not None and "algos" in spec:
        args.update(spec["algos"].get(algo, {}))
    return args


def algos(module: str) -> tuple[str, ...]:
    return tuple(_modules().get(module, {}).get("algos", {}))


def split_arg(item: str) -> tuple[str, str]:
    key, sep, value = item.partition("=")
    if not sep or not key:
        raise ValueError(f"{item!r} is not key=value")
    return key.strip(), value.strip()


def _value_problem(kind: str, key: str, value: str) -> str | None:
    try:
        match kind:
            case "int":
                int(value)
            case "float":
                float(value)
            case "list":
                [float(v) for v in value.split(",")]
            case "bool":
                if value not in ("True", "False"):
                    return f"{key} takes True or False (only 'false' is false to the module), not {value!r}"
            case "flag":
                if value != "True":
                    return f"{key} is true for any value; leave it out instead of {key}={value}"
    except ValueError:
        return f"{key} takes a {kind}, not {value!r}"
    return None


def check_network_args(module: str, items: list[str]) -> list[str]:
    """Problems with a network_args list for `module`; empty when all is well."""
    spec = _modules().get(module)
    if spec is None:
        return []  # a third-party module: its keys are its own business
    values: dict[str, str] = {}
    problems: list[str] = []
    for item in items:
        try:
            key, value = split_arg(item)
        except ValueError as exc:
            problems.append(str(exc))
            continue
        if key in values:
            problems.append(f"network_args sets {key} twice")
        values[key] = value
    algo = values.get("algo", "lora").lower() if "algos" in spec else None
    if algo is not None and algo not in spec["algos"]:
        problems.append(f"algo={algo} is not an algorithm lycoris.kohya knows ({', '.join(spec['algos'])})")
        algo = None
    allowed = readable_args(module, algo)
    for key, value in values.items():
        kind = allowed.get(key)
        if kind is None:
            what = f"{module} algo={algo}" if algo else module
            problems.append(f"{key} is not read by {what}: it would be ignored silently")
            continue
        problem = _value_problem(kind, key, value)
        if problem:
            problems.append(problem)
    return problems
