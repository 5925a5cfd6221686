"""Portable plans: what a plan folder needs where it runs, refused in one line when it would not be
there, and the plan's files re-pointed at the folder layout another machine gets.

The plan's files are the truth (they may have been edited by hand): every absolute path in
config.toml and dataset.toml (network_args' `key=/path` included) outside the plan folder is
something to have there; the plan folder itself travels whole. Output and log folders are made
where the run happens.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kohyawiz.emit import CONFIG_NAME, DATASET_NAME, PLAN_NAME, PLAN_OUTPUT_KEYS
from kohyawiz.errors import UserError
from kohyawiz.run.train import PlanFolder, _json_text, _repoint, _toml_text
from kohyawiz.sdpaths import looks_local

REWRITTEN = {CONFIG_NAME: _toml_text, DATASET_NAME: _toml_text, PLAN_NAME: _json_text}
"""The plan's files that name paths, with how a path is written inside each."""


@dataclass(frozen=True)
class Need:
    key: str
    """The config key (or `image_dir`) that names it."""
    path: Path

    def label(self) -> str:
        return f"{self.key} {self.path}"


def _strings(value: Any) -> list[str]:
    items = value if isinstance(value, list) else [value]
    texts = [item for item in items if isinstance(item, str)]
    return [text.split("=", 1)[1] if "=" in text and not text.startswith("/") else text for text in texts]


def config_values(folder: PlanFolder) -> list[tuple[str, Any]]:
    pairs: list[tuple[str, Any]] = []
    for key, value in folder.config.items():
        pairs += list(value.items()) if isinstance(value, dict) else [(key, value)]
    return pairs


def needs(folder: PlanFolder) -> list[Need]:
    """Every outside file or folder the plan's files name, once each, in the order they are named."""
    found: dict[Path, Need] = {}
    for key, value in config_values(folder):
        if key in PLAN_OUTPUT_KEYS:
            continue
        for text in _strings(value):
            if text.startswith(("/", "~")):
                path = Path(text).expanduser()
                found.setdefault(path, Need(key, path))
    inside = folder.folder
    outside = [n for n in found.values() if n.path != inside and inside not in n.path.parents]
    images = {d: Need("image_dir", d) for d in folder.image_dirs() if d not in found}  # never copied with the plan
    return outside + list(images.values())


def hub_models(folder: PlanFolder) -> list[str]:
    """A base model named by its Hugging Face id: downloaded where the plan runs."""
    model = folder.arg("pretrained_model_name_or_path")
    return [str(model)] if isinstance(model, str) and model and not looks_local(model) else []


def refuse_missing(found: list[Need], side: str) -> None:
    """One line naming every path that would not exist `side` (where the plan runs)."""
    gone = [n for n in found if not n.path.exists()]
    if gone:
        named = "; ".join(n.label() for n in gone)
        raise UserError(f"these paths would not exist {side}, because they do not exist here: {named}. "
                        "Fix them in the plan (or re-plan), then export again", where=str(gone[0].path))  # fmt: skip


def output_paths(folder: PlanFolder) -> dict[str, str]:
    return {key: str(folder.arg(key)) for key in PLAN_OUTPUT_KEYS if isinstance(folder.arg(key), str)}


@dataclass(frozen=True)
class Layout:
    """Where each local path of the plan lies on the other machine."""

    root: str
    plan: str
    output: str
    inputs: dict[Path, str]

    def mapping(self, folder: PlanFolder) -> list[tuple[str, str]]:
        """Local path -> remote path, longest first so a folder inside another is re-pointed on its own."""
        pairs = [(str(local), remote) for local, remote in self.inputs.items()]
        outputs = output_paths(folder)
        if "output_dir" in outputs:
            pairs.append((outputs["output_dir"], self.output))
        if "logging_dir" in outputs:
            pairs.append((outputs["logging_dir"], f"{self.output}/logs"))
        pairs.append((str(folder.folder), self.plan))
        return sorted(pairs, key=lambda pair: len(pair[0]), reverse=True)


def remote_layout(folder: PlanFolder, found: list[Need], root: str) -> Layout:
    """`root`/plan, `root`/output and one `root`/inputs/NAME per outside path (names kept, made unique)."""
    inputs: dict[Path, str] = {}
    taken: set[str] = set()
    for need in found:
        name, number = need.path.name or "input", 1
        while name in taken:
            number += 1
            name = f"{need.path.stem}-{number}{need.path.suffix}"
        taken.add(name)
        inputs[need.path] = f"{root}/inputs/{name}"
    return Layout(root, f"{root}/plan", f"{root}/output", inputs)


def rewritten(folder: PlanFolder, layout: Layout) -> dict[str, str]:
    """The plan's path-bearing files with every local path re-pointed at `layout`; a local path
    that survives (written some way the rewrite does not know) is refused, never shipped."""
    pairs = layout.mapping(folder)
    out: dict[str, str] = {}
    for name, quote in REWRITTEN.items():
        text = (folder.folder / name).read_text(encoding="utf-8")
        for local, remote in pairs:
            text = _repoint(text, quote(local), quote(remote))
        left = [local for local, _ in pairs if name != PLAN_NAME and quote(local) in text]
        if left:  # sd-scripts reads the TOML files; plan.json's free-text findings may keep a local path
            raise UserError(f"{name} still names {left[0]} after re-pointing it for the other machine: "
                            "re-plan it, then export again", where=str(folder.folder / name))  # fmt: skip
        out[name] = text
    return out
