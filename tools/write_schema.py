"""Regenerate kohyawiz/schemas/preset-v1.json from the preset model."""

import json
from pathlib import Path

from kohyawiz.presets import preset_schema

TARGET = Path(__file__).resolve().parent.parent / "kohyawiz" / "schemas" / "preset-v1.json"


def render() -> str:
    return json.dumps(preset_schema(), indent=2, sort_keys=True) + "\n"


if __name__ == "__main__":
    TARGET.write_text(render())
    print(f"wrote {TARGET}")
