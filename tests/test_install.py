"""`kohyawiz sd-scripts install`, offline: a local bare repository stands in for upstream and a
stand-in records what the package installer would have installed."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

PARSER = "import argparse\n\ndef setup_parser():\n    return argparse.ArgumentParser()\n"
FAKE_INSTALLER = "import sys\nwith open(sys.argv[1], 'a') as log:\n    log.write(' '.join(sys.argv[2:]) + '\\n')\n"


def git(*args: str, cwd: Path) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@t"}  # fmt: skip
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True, env=env).stdout.strip()


@pytest.fixture
def upstream(tmp_path):
    work = tmp_path / "work"
    (work / "library").mkdir(parents=True)
    (work / "library" / "__init__.py").write_text("")
    (work / "train_network.py").write_text(PARSER)
    (work / "requirements.txt").write_text("fakepkg==1.0\n")
    git("init", "-q", "-b", "main", cwd=work)
    git("add", ".", cwd=work)
    git("commit", "-q", "-m", "one", cwd=work)
    git("tag", "v1", cwd=work)
    first = git("rev-parse", "HEAD", cwd=work)
    (work / "requirements.txt").write_text("fakepkg==2.0\n")
    git("commit", "-q", "-am", "two", cwd=work)
    second = git("rev-parse", "HEAD", cwd=work)
    bare = tmp_path / "upstream.git"
    git("clone", "-q", "--bare", str(work), str(bare), cwd=tmp_path)
    installer = tmp_path / "fake_installer.py"
    installer.write_text(FAKE_INSTALLER)
    return bare, first, second, installer


def install(tmp_path, bare, ref, installer, *extra: str, env: dict[str, str] | None = None):
    log = tmp_path / "installed.log"
    argv = [sys.executable, "-m", "kohyawiz", "sd-scripts", "install", "--source", str(bare), "--ref", ref,
            "--into", str(tmp_path / "sd"), "--torch", "torch==2.13.0",
            "--installer", shlex.join([sys.executable, str(installer), str(log)]), *extra]  # fmt: skip
    run = subprocess.run(argv, capture_output=True, text=True, env={**os.environ, **(env or {})}, timeout=300)
    return run, log


def test_install_checks_out_the_commit_makes_a_venv_installs_and_checks(tmp_path, upstream):
    bare, first, second, installer = upstream
    run, log = install(tmp_path, bare, second, installer)
    assert run.returncode == 0, run.stdout + run.stderr
    assert [line.split("]")[0] + "]" for line in run.stdout.splitlines() if line.startswith("[")] == [
        "[1/4]", "[2/4]", "[3/4]", "[4/4]"]
    assert not list((tmp_path / "sd").glob("accelerate*.yaml"))  # launches pass accelerate every option
    assert "sd-scripts' parser loads: ready" in run.stdout
    assert git("rev-parse", "HEAD", cwd=tmp_path / "sd") == second
    assert (tmp_path / "sd" / "venv").is_dir()
    assert log.read_text().splitlines() == ["torch==2.13.0", f"-r {tmp_path / 'sd' / 'requirements.txt'}"]
    again, _ = install(tmp_path, bare, second, installer)
    assert again.returncode == 0
    assert "already checked out" in again.stdout and "venv: already there" in again.stdout
    assert "packages: already installed" in again.stdout
    assert len(log.read_text().splitlines()) == 2  # nothing installed twice
    older, _ = install(tmp_path, bare, "v1", installer)
    assert older.returncode == 0 and git("rev-parse", "HEAD", cwd=tmp_path / "sd") == first
    assert len(log.read_text().splitlines()) == 4  # the requirements changed, so they are installed again


def test_install_failures_are_one_line(tmp_path, upstream):
    bare, _, second, installer = upstream
    bad_ref, _ = install(tmp_path, bare, "no-such-tag", installer)
    assert bad_ref.returncode == 2 and "no commit, tag or branch" in bad_ref.stderr
    assert len(bad_ref.stderr.strip().splitlines()) == 1 and "Traceback" not in bad_ref.stderr
    nowhere, _ = install(tmp_path / "x", tmp_path / "missing.git", second, installer)
    assert nowhere.returncode == 2 and "cloning sd-scripts" in nowhere.stderr
    old_python = tmp_path / "python3.8"
    old_python.write_text("#!/bin/sh\necho 3 8\n")
    old_python.chmod(0o755)
    too_old, _ = install(tmp_path / "y", bare, second, installer, "--python", str(old_python))
    assert too_old.returncode == 2 and "needs 3.10 or newer" in too_old.stderr
    no_git, _ = install(tmp_path / "z", bare, second, installer, env={"PATH": str(Path(sys.executable).parent)})
    assert no_git.returncode == 2 and "git is not installed" in no_git.stderr


def test_torch_for_the_driver():
    from kohyawiz.run.sdscripts.install import torch_requirement

    assert torch_requirement(None) == ["torch", "torchvision"]
    assert torch_requirement(12.9)[-1].endswith("/cu128") and torch_requirement(12.2)[-1].endswith("/cu121")
    from kohyawiz.errors import UserError

    with pytest.raises(UserError, match="update it"):
        torch_requirement(10.2)


def test_the_submodule_pins_the_commit_kohyawiz_has_facts_for():
    from kohyawiz.facts import default_version
    from kohyawiz.run.sdscripts.install import PINNED

    repo = Path(__file__).resolve().parent.parent
    gitmodules = (repo / ".gitmodules").read_text()
    assert 'path = vendor/sd-scripts' in gitmodules and "kohya-ss/sd-scripts" in gitmodules
    assert default_version() == f"main-{PINNED[:8]}"
    tree = subprocess.run(["git", "ls-tree", "HEAD", "vendor/sd-scripts"], cwd=repo, capture_output=True, text=True)
    if tree.returncode == 0 and tree.stdout:  # a git checkout of kohyawiz (not an sdist)
        assert tree.stdout.split()[:3] == ["160000", "commit", PINNED]
