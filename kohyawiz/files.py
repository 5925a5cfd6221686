"""Files kohyawiz writes, and where its own home folder is.

Every written file appears whole or not at all (a temporary name beside it, then a rename) and
gets the permissions a new file normally gets under the person's umask; a link planted at the
target is replaced, never written through. The home folder holds learned sd-scripts facts, run
records, the queue, the wizard's remembered answers and its recovery files.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from kohyawiz.errors import UserError


def kohyawiz_home() -> Path:
    """$KOHYAWIZ_HOME, else $XDG_DATA_HOME/kohyawiz, else ~/.local/share/kohyawiz."""
    if os.environ.get("KOHYAWIZ_HOME"):
        return Path(os.environ["KOHYAWIZ_HOME"]).expanduser()
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "kohyawiz"


def new_file_mode() -> int:
    """The mode open() would give a new file: 0o666 less the umask (mkstemp's own is 0o600)."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def _write_temp(folder: Path, name: str, data: str | bytes) -> str:
    """`data` in a new, exclusively created temporary file in `folder`, flushed to disk; its path."""
    handle, temp = tempfile.mkstemp(dir=folder, prefix=f".{name}.", suffix=".tmp")
    try:
        os.fchmod(handle, new_file_mode())
        with os.fdopen(handle, "wb") as out:
            out.write(data.encode("utf-8") if isinstance(data, str) else data)
            out.flush()
            os.fsync(out.fileno())
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    return temp


def write_atomic(path: Path, data: str | bytes) -> None:
    """`data` (text as UTF-8, newlines as given) appears at `path` whole or not at all."""
    temp = _write_temp(path.parent, path.name, data)
    try:
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def write_together(folder: Path, files: dict[str, str], what: str = "the files") -> dict[str, Path]:
    """Every file to a temporary name first, then all renamed in one quick pass, so an
    interrupted write leaves the old files or the new ones (and no temporary files)."""
    temps: dict[str, str] = {}
    try:
        for name, text in files.items():
            temps[name] = _write_temp(folder, name, text)
        for name, temp in temps.items():
            os.replace(temp, folder / name)
    except OSError as exc:
        raise UserError(f"cannot write {what}: {exc.strerror or exc}", where=str(folder)) from exc
    finally:
        for temp in temps.values():
            Path(temp).unlink(missing_ok=True)
    return {name: folder / name for name in files}
