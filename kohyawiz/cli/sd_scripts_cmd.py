"""`kohyawiz sd-scripts learn DIR`: a checkout's own interface, learned in its environment."""

from __future__ import annotations

import argparse

from kohyawiz.facts import load_interface


def version_for_checkout(folder: str, python: str | None, *, again: bool = False) -> tuple[str, bool]:
    """The facts to plan with for a checkout: the shipped ones for a known commit, else learned."""
    from kohyawiz.run.learn import learn
    from kohyawiz.run.locate import find_sd_scripts

    sd = find_sd_scripts(folder, python)
    if sd.exact and not again:
        return sd.version.id, False
    learned = learn(sd, again=again)
    return learned.version_id, learned.new


def run_sd_scripts(args: argparse.Namespace) -> int:
    version, new = version_for_checkout(args.dir, args.python, again=args.again)
    interface = load_interface(version)
    counts = ", ".join(f"{len(a)} arguments for {s}" for s, a in interface.args.items())
    how = "learned now" if new else "already known"
    print(f"{args.dir}: sd-scripts {version} ({how}): {counts}")
    print(f"Plan for it with: kohyawiz plan --sd-scripts {args.dir} ... (or --sd-scripts-version {version})")
    return 0
