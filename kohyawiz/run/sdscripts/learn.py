"""`kohyawiz sd-scripts learn`: read a checkout's interface in its own environment and keep it,
so plans for it are checked against what that checkout really accepts."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from kohyawiz.errors import UserError
from kohyawiz.families import trainer_scripts
from kohyawiz.learned import learned_file, store, tree_key
from kohyawiz.run.process import capture
from kohyawiz.run.sdscripts.locate import SdScripts

PROBE = Path(__file__).resolve().parent / "sd_learn_probe.py"


@dataclass(frozen=True)
class Learned:
    version_id: str
    path: Path
    new: bool


def learned_id(sd: SdScripts) -> str:
    return f"learned-{tree_key(sd.root, sd.commit)}"


def learn(sd: SdScripts, *, again: bool = False) -> Learned:
    """The checkout's facts: read them once (again when asked), keyed by commit or tree hash."""
    version_id = learned_id(sd)
    known = learned_file(version_id)
    if known is not None and not again:
        return Learned(version_id, known, False)
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1"}
    argv = [str(sd.python), str(PROBE), str(sd.root), *trainer_scripts()]
    code, out = capture(argv, cwd=sd.root, env=env, timeout_s=600)
    documents = [line for line in out.splitlines() if line.startswith('{"scripts"')]
    if code != 0 or not documents:
        tail = (out.strip().splitlines() or ["no output"])[-1][:200]
        raise UserError(
            f"could not read sd-scripts' parsers with {sd.python} (exit {code}: {tail}); "
            "give the Python of its environment with --python",
            where=str(sd.root),
        )
    try:
        manifest = json.loads(documents[-1])
    except ValueError as exc:
        raise UserError(f"unreadable answer from sd-scripts' parsers ({exc})", where=str(sd.root)) from exc
    if "train_network.py" not in manifest.get("scripts", {}):
        raise UserError("the checkout has no train_network.py parser", where=str(sd.root))
    key = version_id.removeprefix("learned-")
    return Learned(version_id, store(key, manifest, sd.root), True)
