"""`kohyawiz sd-scripts learn DIR`: a checkout's own interface, learned in its environment."""

from __future__ import annotations

import argparse
from pathlib import Path

from kohyawiz.facts import load_interface


def version_for_checkout(folder: str, python: str | None, *, again: bool = False) -> tuple[str, bool]:
    """The facts to plan with for a checkout: the shipped ones for a known commit, else learned."""
    from kohyawiz.run.sdscripts.learn import learn
    from kohyawiz.run.sdscripts.locate import find_sd_scripts

    sd = find_sd_scripts(folder, python)
    if sd.exact and not again:
        return sd.version.id, False
    learned = learn(sd, again=again)
    return learned.version_id, learned.new


def default_install_dir() -> Path:
    from kohyawiz.files import kohyawiz_home

    return kohyawiz_home() / "sd-scripts"


def run_install(args: argparse.Namespace) -> int:
    import shlex
    import sys

    from kohyawiz.run.sdscripts.install import PINNED, UPSTREAM, InstallOptions, install

    into = Path(args.into).expanduser().absolute() if args.into else default_install_dir()
    options = InstallOptions(
        into=into, ref=args.ref or PINNED, source=args.source or UPSTREAM, torch=args.torch,
        python=args.python or sys.executable, installer=shlex.split(args.installer) if args.installer else None,
    )  # fmt: skip
    python = install(options, say=lambda line: print(line, flush=True))
    print(f"Ready: kohyawiz train PLAN --sd-scripts {into} --python {python}")
    return 0


def run_sd_scripts(args: argparse.Namespace) -> int:
    if args.sd_action == "install":
        return run_install(args)
    version, new = version_for_checkout(args.dir, args.python, again=args.again)
    interface = load_interface(version)
    counts = ", ".join(f"{len(a)} arguments for {s}" for s, a in interface.args.items())
    how = "learned now" if new else "already known"
    print(f"{args.dir}: sd-scripts {version} ({how}): {counts}")
    print(f"Plan for it with: kohyawiz plan --sd-scripts {args.dir} ... (or --sd-scripts-version {version})")
    return 0
