"""Carry sd-scripts interface facts into vendor/ in kohyawiz's own format.

The input is an argument manifest dumped from the real sd-scripts parsers
(`../shared/sd-scripts/args-*.json`); the output is `vendor/sd-scripts-facts/<id>.json`.
Run it again when a new sd-scripts version is added:

    python tools/vendor_facts.py ../shared/sd-scripts/args-v0.9.1.json ...
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

VENDOR = Path(__file__).resolve().parent.parent / "vendor" / "sd-scripts-facts"


def convert(manifest: dict[str, Any]) -> dict[str, Any]:
    """The one converter, shared with `kohyawiz sd-scripts learn` (kohyawiz/learned.py)."""
    from kohyawiz.learned import convert as convert_manifest

    return convert_manifest(manifest, manifest["sd_scripts_version"])


def main(paths: list[str]) -> None:
    for path in paths:
        facts = convert(json.loads(Path(path).read_text()))
        out = VENDOR / f"{facts['version']}.json"
        out.write_text(json.dumps(facts, indent=1, sort_keys=False) + "\n")
        print(f"wrote {out}")


if __name__ == "__main__":
    main(sys.argv[1:])
