"""The one trust boundary: every sd-scripts value that did not come from this person's own command
line crosses `foreign_refusals` before it reaches a plan or a launch.

Foreign values are those of presets (every table, every file of an `extends` chain), imports of
kohya_ss GUI JSON and sd-scripts TOML, wizard answer files and plan folders that were copied or
shared. One allow-list holds for all of them:

- nothing that sends the run, its logs or a credential elsewhere (Hugging Face uploads and tokens,
  Weights & Biases and every other remote tracker);
- no path that leads out: a path value (a key that names a file or folder, an item of a list, the
  text after `key=` in `network_args` or `key=value` lists) must stay inside the folder the values
  came with, or be one this person named on their own command line before.

"Named before" is a ledger in the kohyawiz home of what this person's own plans held (hashes only,
so no credential is stored). It lets `kohyawiz train` run a plan this person wrote, copied or
edited, and refuse what a stranger's plan folder added.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any

from kohyawiz.errors import UserError

CREDENTIAL = re.compile(r"(^|_)(token|api_key|password|secret)$")
UPLOAD = re.compile(r"^(huggingface_.*|save_state_to_huggingface|resume_from_huggingface|async_upload)$")
REMOTE_LOGGING = re.compile(r"^(log_with|wandb_.*|log_tracker_name|log_tracker_config)$")
LOCAL_LOGGING = frozenset({"", "tensorboard"})
"""The only `log_with` values a shared file may hold: TensorBoard writes next to the run."""
PATH_KEY = re.compile(
    r"(_dir|_path|_file|_json)$|^(pretrained_model_name_or_path|controlnet_model_name_or_path|network_weights|"
    r"base_weights|vae|resume|sample_prompts|dataset_config|config_file|in_json|metadata_thumbnail|"
    r"ae|byt5|clip_g|clip_l|gemma2|qwen3|t5xxl|text_encoder|image_dir|lycoris_preset)$"
)
"""sd-scripts arguments (and dataset-config keys) whose value is a file or folder it reads or writes."""
OWN_NETWORK_MODULE = re.compile(r"^(networks\.[A-Za-z_]\w*|lycoris\.kohya)$")
"""The network modules a shared file may name: sd-scripts' own `networks/` and LyCORIS' entry."""
CODE_KEYS = frozenset({"optimizer_type", "lr_scheduler_type", "dataset_class"})
"""Arguments whose dotted value (`package.module.Class`) sd-scripts imports and calls."""
HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$(?<!\.safetensors)(?<!\.ckpt)")
_ABSOLUTE = re.compile(r"^(/|~|\$|%|[A-Za-z]:|\\\\|file:)", re.IGNORECASE)


@dataclass(frozen=True)
class Refusal:
    """One value the boundary kept out, and why."""

    key: str
    why: str

    def line(self) -> str:
        return f"{self.key} {self.why}"


def sends_elsewhere(key: str, value: Any) -> str | None:
    """What a setting would send out of this machine, or None."""
    if CREDENTIAL.search(key):
        return "is a credential"
    if UPLOAD.match(key):
        return "is an upload target (the model or its state would leave this machine)"
    if REMOTE_LOGGING.match(key):
        if key == "log_with" and str(value).strip().lower() in LOCAL_LOGGING:
            return None
        return "is remote logging (the run's data would go to a tracker)"
    return None


def loads_code(key: str, value: Any) -> str | None:
    """Why a setting would make sd-scripts import Python code a shared file chose, or None:
    `network_module` and a dotted `optimizer_type`, `lr_scheduler_type` or `dataset_class` are
    imported by name from sd-scripts' environment (train_network.py, library/train_util.py)."""
    text = str(value).strip()
    if key == "network_module" and not OWN_NETWORK_MODULE.match(text):
        return f"names a Python module for sd-scripts to import ({text[:80]!r}), not one of its own networks"
    if key in CODE_KEYS and "." in text:
        return f"names Python code for sd-scripts to import ({text[:80]!r})"
    return None


def texts_in(value: Any) -> list[str]:
    """Every piece of text in a value that could be a path: each string, each list item, and
    each side of every `=` in them (network_args `preset=...`, `key=value` lists)."""
    items = value if isinstance(value, list | tuple) else [value]
    out: list[str] = []
    for item in items:
        if isinstance(item, dict):
            out += texts_in(list(item.values()))
        elif isinstance(item, str):
            out.append(item)
            out += [part for part in item.split("=") if part != item]
    return out


def leads_out(text: str) -> bool:
    """A text that names a place outside any folder it is found in: an absolute path, a home or
    environment reference, or a `..` step."""
    stripped = text.strip().strip("\"'")
    if not stripped:
        return False
    if _ABSOLUTE.match(stripped):
        return True
    parts = set(PurePosixPath(stripped).parts) | set(PureWindowsPath(stripped).parts)
    return ".." in parts


def _inside(text: str, folders: Iterable[Path]) -> bool:
    """Whether a path lies inside one of `folders`, as written and where its links lead: a plan
    folder someone copied may hold `output -> /home/you/.ssh`, and sd-scripts writes through it."""
    path = Path(text.strip()).expanduser()
    if not path.is_absolute() or ".." in path.parts:
        return False
    try:
        real = path.resolve()
    except (OSError, RuntimeError, ValueError):
        return False
    for folder in folders:
        try:
            root = folder.resolve()
        except (OSError, RuntimeError, ValueError):
            continue
        if (path == folder or folder in path.parents) and (real == root or root in real.parents):
            return True
    return False


def _inside_as_written(text: str, folders: Iterable[Path]) -> list[bool]:
    path = Path(text.strip()).expanduser()
    return [path.is_absolute() and (path == f or f in path.parents) and ".." not in path.parts for f in folders]


def foreign_refusals(
    values: Mapping[str, Any],
    *,
    inside: Iterable[Path] = (),
    trust_named: bool = False,
    scope: Path | None = None,
    prefix: str = "",
) -> list[Refusal]:
    """Each value of `values` the boundary keeps out. `inside`: folders a path may lead into (a
    plan folder); without one, no path key may be set at all. `trust_named`: values this
    person's own plans held pass (the ledger): paths wherever they were named, what sends
    something elsewhere only in the plan folder `scope` it was planned in."""
    folders = [Path(f) for f in inside]
    named = set(_ledger()) if trust_named else set()
    refusals: list[Refusal] = []
    for key, value in values.items():
        if value in (None, False, "", []):
            continue
        why = sends_elsewhere(key, value) or loads_code(key, value)
        if why is None:
            why = _path_problem(key, value, folders)
        if why is not None and named and _digest(key, value, scope if sends_elsewhere(key, value) else None) in named:
            continue
        if why is not None:
            refusals.append(Refusal(f"{prefix}{key}", why))
    return refusals


def _path_problem(key: str, value: Any, folders: list[Path]) -> str | None:
    if key == "pretrained_model_name_or_path" and isinstance(value, str) and HUB_ID.match(value):
        return None  # a Hugging Face model id names no file here
    if PATH_KEY.search(key):
        items = [str(v) for v in (value if isinstance(value, list) else [value]) if str(v).strip()]
        bad = [t for t in items if not folders or not _inside(t, folders)]
    else:
        bad = [t for t in texts_in(value) if leads_out(t) and not _inside(t, folders)]
    if not bad:
        return None
    if any(_inside_as_written(bad[0], folders)):
        return f"names a path that leads out through a link ({bad[0][:120]!r})"
    return f"names a path that leads out ({bad[0][:120]!r})" if folders or not PATH_KEY.search(key) else (
        f"is a machine path ({bad[0][:120]!r})"
    )


def sensitive(key: str, value: Any) -> bool:
    """Whether a value is one the boundary looks at: it sends something out or names a path."""
    return bool(sends_elsewhere(key, value) or loads_code(key, value) or PATH_KEY.search(key)
                or any(leads_out(t) for t in texts_in(value)))


def refuse_foreign(values: Mapping[str, Any], where: str, *, what: str, fix: str, **options: Any) -> None:
    """A UserError naming the first refused value (and how many more) when there is any."""
    refused = foreign_refusals(values, **options)
    if refused:
        more = f" (and {len(refused) - 1} more)" if len(refused) > 1 else ""
        raise UserError(f"{refused[0].line()}: {what} cannot carry it{more}; {fix}", where=where)


def shareable(overrides: Mapping[str, Any]) -> tuple[dict[str, Any], list[Refusal]]:
    """The overrides a shared preset may carry, and what was left out."""
    kept: dict[str, Any] = {}
    dropped: list[Refusal] = []
    for key, value in overrides.items():
        refused = foreign_refusals({key: value})
        if refused:
            dropped += refused
        else:
            kept[key] = value
    return kept, dropped


# The ledger of values this person's own plans held.
LEDGER_NAME = "named.json"
LEDGER_LIMIT = 50_000
"""Entries kept; the oldest go first."""


def _digest(key: str, value: Any, scope: Path | None = None) -> str:
    text = json.dumps([key, value, str(scope or "")], sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def _ledger_path() -> Path:
    from kohyawiz.files import kohyawiz_home

    return kohyawiz_home() / LEDGER_NAME


def _ledger() -> list[str]:
    from kohyawiz.door import read_json

    path = _ledger_path()
    if not path.is_file():
        return []
    try:
        data = read_json(path, "ledger of named paths")
    except UserError:
        return []
    return [d for d in data if isinstance(d, str)] if isinstance(data, list) else []


def remember_named(values: Mapping[str, Any], scope: Path) -> None:
    """Keep the sensitive values of a plan this person wrote in the plan folder `scope` (their
    hashes) as named by them."""
    from kohyawiz.files import write_atomic

    digests = [_digest(k, v, scope if sends_elsewhere(k, v) else None) for k, v in values.items() if sensitive(k, v)]
    if not digests:
        return
    known = _ledger()
    seen = set(known)
    fresh = [d for d in dict.fromkeys(digests) if d not in seen]
    if not fresh:
        return
    path = _ledger_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, json.dumps((known + fresh)[-LEDGER_LIMIT:]) + "\n")
    except OSError:
        pass  # an unwritable home only means the plan is checked as a stranger's later
