"""Run by sd-scripts' own Python (never imported by kohyawiz): read a checkout's interface off its
real argument parsers and dataset-config schema, and print it as one JSON document.

    <sd-scripts python> sd_learn_probe.py <sd-scripts folder> [trainer script ...]

The trainers to read are given by kohyawiz (its families are the one list); a checkout that lacks
one simply has no entry for it.
"""

from __future__ import annotations

import sys

# This folder holds kohyawiz modules (queue.py, ...) that must not shadow the standard library in
# sd-scripts' interpreter, which puts a script's own folder first on sys.path.
if sys.path and sys.path[0] and __file__.startswith(sys.path[0]):
    sys.path.pop(0)

import importlib
import json
import os

FALLBACK_TRAINERS = ("train_network.py", "sdxl_train_network.py")
_BOOLEAN_ACTIONS = ("_StoreTrueAction", "_StoreFalseAction", "BooleanOptionalAction")


def _plain(value):
    try:
        json.dumps(value)
    except TypeError:
        return str(value)
    return value


def _action(action):
    kind = type(action).__name__
    kind_type = "bool" if kind in _BOOLEAN_ACTIONS else getattr(action.type, "__name__", None) if action.type else None
    return {
        "dest": action.dest, "flags": list(action.option_strings), "action": kind, "type": kind_type,
        "nargs": action.nargs, "default": _plain(action.default),
        "choices": [_plain(c) for c in action.choices] if action.choices else None,
    }


def _schema(schema):
    try:
        from voluptuous import Marker, Required

        kinds: tuple = (Marker, Required)
    except ImportError:  # a checkout whose schema keys are plain names
        kinds = ()
    out = {}
    for key, value in schema.items():
        name = key.schema if kinds and isinstance(key, kinds[0]) else key
        required = bool(kinds) and isinstance(key, kinds[1])
        out[str(name)] = {"required": required, "validator": repr(value)[:120]}
    return out


def main() -> None:
    root = os.path.abspath(sys.argv[1])
    os.chdir(root)
    sys.path.insert(0, root)
    scripts = {}
    for script in sys.argv[2:] or FALLBACK_TRAINERS:
        if os.path.exists(script):
            parser = importlib.import_module(script[:-3]).setup_parser()
            scripts[script] = [_action(a) for a in parser._actions if a.option_strings and a.dest != "help"]
    from library import config_util, train_util

    sanitizer = config_util.ConfigSanitizer
    levels = {name: _schema(getattr(sanitizer, name)) for name in dir(sanitizer)
              if name.endswith("SCHEMA") and isinstance(getattr(sanitizer, name), dict)}  # fmt: skip
    divisor = 64
    with open("train_network.py", encoding="utf-8") as handle:
        if "verify_bucket_reso_steps(64)" not in handle.read():
            divisor = 1
    print(json.dumps({
        "scripts": scripts, "dataset_config": levels,
        "image_extensions": list(getattr(train_util, "IMAGE_EXTENSIONS", [])),
        "bucket_reso_steps_divisor": divisor,
    }))  # fmt: skip


if __name__ == "__main__":
    main()
