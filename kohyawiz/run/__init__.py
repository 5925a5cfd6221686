"""Running sd-scripts: launching it, reading its log, queueing runs and running beyond one machine.
Knowing sd-scripts is run/sdscripts/, keeping records of runs is run/records/."""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
from types import ModuleType

# Old homes of modules moved by the split of run/ by job (issue 24), answered for this session so a
# branch that still imports them keeps running; to be removed once every branch has rebased.
MOVED = {
    f"{__name__}.{old}": f"{__name__}.{new}"
    for old, new in {
        "locate": "sdscripts.locate", "install": "sdscripts.install", "learn": "sdscripts.learn",
        "history": "records.history", "ledger": "records.ledger", "plot": "records.plot",
    }.items()
}  # fmt: skip


class _MovedModules(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, fullname: str, path: object, target: object = None) -> importlib.machinery.ModuleSpec | None:
        return importlib.machinery.ModuleSpec(fullname, self) if fullname in MOVED else None

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        return importlib.import_module(MOVED[spec.name])

    def exec_module(self, module: ModuleType) -> None:
        return None


if not any(isinstance(finder, _MovedModules) for finder in sys.meta_path):
    sys.meta_path.append(_MovedModules())
