"""Find the person's sd-scripts checkout, the Python that runs it, and its version.

Order: --sd-scripts, $KOHYAWIZ_SD_SCRIPTS, vendor/sd-scripts beside kohyawiz, an existing kohya_ss
install ($KOHYA_SS, ~/kohya_ss, ~/kohya_ss/sd-scripts). kohya_ss keeps its own virtual
environment, and that Python (not kohyawiz's) is the one to launch with.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

from kohyawiz.errors import UserError
from kohyawiz.facts import VersionInfo, default_version, known_versions, resolve_version
from kohyawiz.resources import package_dir


@dataclass(frozen=True)
class SdScripts:
    root: Path
    python: Path
    commit: str | None
    version: VersionInfo
    exact: bool
    """False when the checkout is not a known version and the nearest one's facts are used."""
    found_by: str

    def warning(self) -> str | None:
        if self.exact:
            return None
        seen = self.commit[:8] if self.commit else "an unknown commit"
        return f"sd-scripts at {self.root} is {seen}, not a version kohyawiz knows; using the facts of {self.version.id}, the nearest"


def _is_checkout(path: Path) -> bool:
    return (path / "train_network.py").is_file() and (path / "library").is_dir()


def candidates(explicit: str | None) -> list[tuple[Path, str]]:
    found: list[tuple[Path, str]] = []
    if explicit:
        found.append((Path(explicit).expanduser(), "--sd-scripts"))
    if os.environ.get("KOHYAWIZ_SD_SCRIPTS"):
        found.append((Path(os.environ["KOHYAWIZ_SD_SCRIPTS"]).expanduser(), "$KOHYAWIZ_SD_SCRIPTS"))
    found.append((package_dir().parent / "vendor" / "sd-scripts", "vendor/sd-scripts"))
    from kohyawiz.files import kohyawiz_home

    found.append((kohyawiz_home() / "sd-scripts", "`kohyawiz sd-scripts install`"))
    for base, how in ((os.environ.get("KOHYA_SS"), "$KOHYA_SS"), (str(Path.home() / "kohya_ss"), "~/kohya_ss")):
        if base:
            found.append((Path(base).expanduser() / "sd-scripts", f"kohya_ss install ({how})"))
            found.append((Path(base).expanduser(), f"kohya_ss install ({how})"))
    return found


def _venv_python(root: Path) -> Path | None:
    for venv in (root / "venv", root / ".venv", root.parent / "venv", root.parent / ".venv"):
        for name in ("bin/python", "Scripts/python.exe"):
            if (venv / name).is_file():
                return venv / name
    return None


def read_commit(root: Path) -> str | None:
    """HEAD's commit from the checkout's .git, read as files (no git needed)."""
    git = root / ".git"
    if git.is_file():  # a submodule: "gitdir: <path>"
        text = git.read_text(errors="replace").strip()
        if text.startswith("gitdir:"):
            git = (root / text.split(":", 1)[1].strip()).resolve()
    head = git / "HEAD"
    if not head.is_file():
        return None
    ref = head.read_text(errors="replace").strip()
    if not ref.startswith("ref:"):
        return ref or None
    name = ref.split(":", 1)[1].strip()
    loose = git / name
    if loose.is_file():
        return loose.read_text().strip() or None
    packed = git / "packed-refs"
    if packed.is_file():
        for line in packed.read_text(errors="replace").splitlines():
            parts = line.split()
            if len(parts) == 2 and parts[1] == name:
                return parts[0]
    return None


def nearest_version(root: Path) -> VersionInfo:
    """The known version whose arguments the checkout's source mentions, newest first."""
    try:
        source = (root / "library" / "train_util.py").read_text(errors="replace")
    except OSError:
        return resolve_version(default_version())
    if "validation_split" in source:
        return resolve_version("main")
    if "initial_epoch" in source:
        return resolve_version("v0.9.1")
    return resolve_version("v0.8.7")


def find_sd_scripts(explicit: str | None = None, python: str | None = None) -> SdScripts:
    tried = []
    for path, how in candidates(explicit):
        tried.append(str(path))
        if not _is_checkout(path):
            if how == "--sd-scripts":
                raise UserError("is not an sd-scripts checkout (no train_network.py and library/)", where=str(path))
            continue
        root = path.resolve()
        commit = read_commit(root)
        exact = next((v for v in known_versions() if commit and commit.startswith(v.commit)), None)
        version = exact or nearest_version(root)
        # absolute, not resolved: a venv's python is a link that must keep its venv
        chosen = Path(python).expanduser().absolute() if python else (_venv_python(root) or Path(sys.executable))
        if python and not chosen.is_file():
            raise UserError("no such Python interpreter", where=str(chosen))
        return SdScripts(root, chosen, commit, version, exact is not None, how)
    raise UserError(
        "sd-scripts not found: pass --sd-scripts DIR or set KOHYAWIZ_SD_SCRIPTS (looked in " + ", ".join(tried) + ")"
    )
