"""`kohyawiz sd-scripts install`: make sd-scripts runnable on a fresh machine, as kohya_ss does:
the pinned commit checked out, its own venv, a torch build for the GPU's driver, its requirements,
and a final check that its parser loads. No accelerate config is written: every launch passes
accelerate its options itself (plan.json's accelerate_args), so none would be read.

Every step looks at what is already there first, so running it again finishes what was left and
changes nothing that is done. Each failure is one line that says what to do.
"""

from __future__ import annotations

import os
import shlex
import shutil
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from kohyawiz.errors import UserError
from kohyawiz.run.process import capture

UPSTREAM = "https://github.com/kohya-ss/sd-scripts.git"
PINNED = "48d368fa557731ad0488c07304dfeba8c07910eb"
"""The newest sd-scripts commit kohyawiz has facts for (vendor/sd-scripts-facts, main-48d368fa);
also the commit the vendor/sd-scripts submodule points at."""
# CUDA builds of torch by the newest CUDA the driver supports (nvidia-smi's "CUDA Version").
TORCH_BY_CUDA = ((12.8, "cu128"), (12.6, "cu126"), (12.4, "cu124"), (12.1, "cu121"), (11.8, "cu118"))
TORCH_INDEX = "https://download.pytorch.org/whl/{tag}"
MIN_PYTHON = (3, 10)
Say = Callable[[str], None]


@dataclass
class InstallOptions:
    into: Path
    ref: str = PINNED
    source: str = UPSTREAM
    torch: str | None = None
    """A pip requirement (and options) for torch; detected from the driver when not given."""
    python: str = sys.executable
    """The Python that creates the venv."""
    installer: Sequence[str] | None = None
    """The package installer to run inside the venv (default: its `python -m pip install`)."""
    env: dict[str, str] = field(default_factory=dict)


def _run(argv: Sequence[str], what: str, *, cwd: Path | None = None, env: dict[str, str] | None = None,
         timeout_s: float = 3600) -> str:  # fmt: skip
    code, out = capture(list(argv), cwd=cwd, env={**os.environ, **(env or {})}, timeout_s=timeout_s)
    if code != 0:
        tail = (out.strip().splitlines() or ["no output"])[-1][:240]
        if code == 127 and "No such file" in out:
            raise UserError(f"{what}: {argv[0]} is not installed or not on PATH")
        raise UserError(f"{what} failed (exit {code}): {tail}")
    return out


def checkout(options: InstallOptions, say: Say) -> None:
    if shutil.which("git") is None:
        raise UserError("git is not installed: install git, then run this again")
    into = options.into
    if not (into / ".git").exists():
        if into.exists() and any(into.iterdir()):
            raise UserError("is not empty and not a git checkout: choose another --into", where=str(into))
        into.parent.mkdir(parents=True, exist_ok=True)
        say(f"cloning {options.source}")
        _run(["git", "clone", "--quiet", options.source, str(into)],
             "cloning sd-scripts (is the network reachable?)")  # fmt: skip
    current = capture(["git", "-C", str(into), "rev-parse", "HEAD"])[1].strip()
    wanted = capture(["git", "-C", str(into), "rev-parse", "--verify", "--quiet", f"{options.ref}^{{commit}}"])
    if wanted[0] != 0:
        say(f"fetching {options.ref}")
        _run(["git", "-C", str(into), "fetch", "--quiet", "--tags", "origin"], "fetching sd-scripts")
        wanted = capture(["git", "-C", str(into), "rev-parse", "--verify", "--quiet", f"{options.ref}^{{commit}}"])
        if wanted[0] != 0:
            raise UserError(f"sd-scripts has no commit, tag or branch {options.ref!r}: check --ref")
    commit = wanted[1].strip()
    status = capture(["git", "-C", str(into), "status", "--porcelain", "--untracked-files=no"])[1].strip()
    if current == commit and not status:
        say(f"sd-scripts at {commit[:8]}: already checked out")
        return
    if status and current:
        raise UserError("has changes of its own: commit or stash them, or choose another --into", where=str(into))
    _run(["git", "-C", str(into), "checkout", "--quiet", "--detach", commit], "checking out sd-scripts")
    say(f"sd-scripts checked out at {commit[:8]}")


def venv_python(into: Path) -> Path:
    for name in ("bin/python", "Scripts/python.exe"):
        if (into / "venv" / name).is_file():
            return into / "venv" / name
    return into / "venv" / "bin" / "python"


def make_venv(options: InstallOptions, say: Say) -> Path:
    python = venv_python(options.into)
    if python.is_file():
        say(f"venv: already there ({python})")
        return python
    code, out = capture([options.python, "-c", "import sys; print(sys.version_info[0], sys.version_info[1])"])
    if code != 0:
        raise UserError(f"cannot run {options.python}: give a Python 3.10 or newer with --python")
    major, minor = (int(p) for p in out.split()[:2])
    if (major, minor) < MIN_PYTHON:
        raise UserError(f"{options.python} is Python {major}.{minor}; sd-scripts needs 3.10 or newer: pass --python")
    _run([options.python, "-m", "venv", str(options.into / "venv")], "creating the venv")
    say("venv: created")
    return venv_python(options.into)


def torch_requirement(driver_cuda: float | None) -> list[str]:
    """torch for the driver: the newest CUDA build it supports, or the CPU build without a GPU."""
    if driver_cuda is None:
        return ["torch", "torchvision"]
    tag = next((tag for version, tag in TORCH_BY_CUDA if driver_cuda >= version), None)
    if tag is None:
        raise UserError(f"the NVIDIA driver supports CUDA {driver_cuda}, older than any torch build: update it")
    return ["torch", "torchvision", "--index-url", TORCH_INDEX.format(tag=tag)]


def driver_cuda() -> float | None:
    if shutil.which("nvidia-smi") is None:
        return None
    code, out = capture(["nvidia-smi"], timeout_s=15)
    if code != 0 or "CUDA Version:" not in out:
        return None
    try:
        return float(out.split("CUDA Version:")[1].split()[0])
    except (IndexError, ValueError):
        return None


def _installer(options: InstallOptions, python: Path) -> list[str]:
    return list(options.installer) if options.installer else [str(python), "-m", "pip", "install"]


def install_packages(options: InstallOptions, python: Path, say: Say) -> None:
    marker = options.into / "venv" / ".kohyawiz-installed"
    requirements = options.into / "requirements.txt"
    wanted = f"{options.torch or ''}|{requirements.read_text(encoding='utf-8') if requirements.is_file() else ''}"
    if marker.is_file() and marker.read_text(encoding="utf-8") == wanted:
        say("packages: already installed")
        return
    spec = options.torch.split() if options.torch else torch_requirement(driver_cuda())
    say(f"installing {' '.join(spec)}")
    _run([*_installer(options, python), *spec], "installing torch", cwd=options.into, env=options.env)
    if requirements.is_file():
        say("installing sd-scripts' requirements")
        _run([*_installer(options, python), "-r", str(requirements)], "installing sd-scripts' requirements",
             cwd=options.into, env=options.env)  # fmt: skip
    marker.write_text(wanted, encoding="utf-8")


def check_parser(options: InstallOptions, python: Path, say: Say) -> None:
    code, out = capture([str(python), "-c", "import train_network; train_network.setup_parser()"], cwd=options.into,
                        env={**os.environ, "CUDA_VISIBLE_DEVICES": ""}, timeout_s=600)  # fmt: skip
    if code != 0:
        tail = (out.strip().splitlines() or ["no output"])[-1][:240]
        raise UserError(f"sd-scripts' parser does not load in its venv: {tail} (run this again to retry the install)")
    say("sd-scripts' parser loads: ready")


def install(options: InstallOptions, say: Say = print) -> Path:
    """Every step, in order; returns the venv's Python."""
    steps = 4
    say(f"[1/{steps}] sd-scripts source")
    checkout(options, say)
    say(f"[2/{steps}] its own venv")
    python = make_venv(options, say)
    say(f"[3/{steps}] torch and the requirements")
    install_packages(options, python, say)
    say(f"[4/{steps}] check")
    check_parser(options, python, say)
    return python


def install_script(into: str, ref: str = PINNED, source: str = UPSTREAM, torch: str | None = None) -> str:
    """The same four steps as `install`, as a shell script for a machine kohyawiz is not on (a
    SkyPilot task's setup): checkout, venv, torch for the driver and the requirements, the parser
    check. Each step skips what is already done. `into` may start with `$HOME/`; every other value
    is quoted."""
    q = shlex.quote
    root = f'"$HOME"/{q(into[6:])}' if into.startswith("$HOME/") else q(into)
    pairs = " ".join(f"{version}:{tag}" for version, tag in TORCH_BY_CUDA)
    if torch:
        torch_line = f"torch_spec={q(torch)}"
    else:
        torch_line = (
            "torch_spec='torch torchvision'\n"
            "cuda=$(nvidia-smi 2>/dev/null | sed -n 's/.*CUDA Version: *\\([0-9.]*\\).*/\\1/p' | head -n 1)\n"
            f"for pair in {pairs}; do\n"
            '  if [ -n "$cuda" ] && awk -v have="$cuda" -v need="${pair%%:*}" \'BEGIN{exit !(have >= need)}\'; then\n'
            f'    torch_spec="torch torchvision --index-url {TORCH_INDEX.format(tag="${pair#*:}")}"; break\n'
            "  fi\n"
            "done"
        )
    return "\n".join([
        "set -euo pipefail",
        f"SD={root}",
        "# [1/4] sd-scripts source",
        f'[ -d "$SD/.git" ] || git clone --quiet {q(source)} "$SD"',
        f'git -C "$SD" rev-parse --verify --quiet {q(ref + "^{commit}")} >/dev/null || git -C "$SD" fetch --quiet --tags origin',
        f'git -C "$SD" checkout --quiet --detach {q(ref)}',
        "# [2/4] its own venv",
        '[ -x "$SD/venv/bin/python" ] || python3 -m venv "$SD/venv"',
        "# [3/4] torch and the requirements",
        torch_line,
        'if [ ! -f "$SD/venv/.kohyawiz-installed" ]; then',
        '  "$SD/venv/bin/python" -m pip install $torch_spec',
        '  (cd "$SD" && "$SD/venv/bin/python" -m pip install -r requirements.txt)',
        '  echo "$torch_spec" > "$SD/venv/.kohyawiz-installed"',
        "fi",
        "# [4/4] check",
        '(cd "$SD" && CUDA_VISIBLE_DEVICES= "$SD/venv/bin/python" -c "import train_network; train_network.setup_parser()")',
    ])  # fmt: skip
