"""A test double for sd-scripts' training scripts: replays a real log with timing, honours SIGINT,
writes the checkpoints the log announces (as safetensors with sd-scripts' metadata keys), and
exits with the code the log ends with.

Environment: KOHYAWIZ_FAKE_LOG (a log from shared/sd-scripts/logs), KOHYAWIZ_FAKE_DELAY (seconds
between lines), KOHYAWIZ_FAKE_IGNORE_INT=1 (ignore SIGINT, to test escalation),
KOHYAWIZ_FAKE_PIDFILE (write this process's pid there), KOHYAWIZ_FAKE_METADATA (KEY=VALUE,...: write
these metadata values instead of the config's, as a trainer that ignored a setting would). Like sd-scripts, it
stops when the base model is not found from the folder it runs in.
"""

from __future__ import annotations

import json
import os
import re
import signal
import struct
import sys
import time
import tomllib
from pathlib import Path


def config_values(argv: list[str]) -> dict:
    if "--config_file" not in argv:
        return {}
    path = Path(argv[argv.index("--config_file") + 1])
    flat: dict = {}
    for key, value in tomllib.loads(path.read_text()).items():
        flat.update(value if isinstance(value, dict) else {key: value})
    return flat


def write_safetensors(path: Path, config: dict) -> None:
    metadata = {
        "ss_network_dim": str(config.get("network_dim", "")),
        "ss_network_alpha": str(config.get("network_alpha", "")),
        "ss_network_module": str(config.get("network_module", "")),
    }
    wrong = os.environ.get("KOHYAWIZ_FAKE_METADATA", "")
    metadata.update(pair.split("=", 1) for pair in wrong.split(",") if "=" in pair)
    header = json.dumps(
        {"__metadata__": metadata, "w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}
    ).encode()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(struct.pack("<Q", len(header)) + header + b"\0\0\0\0")


def main() -> int:
    if os.environ.get("KOHYAWIZ_FAKE_PIDFILE"):
        Path(os.environ["KOHYAWIZ_FAKE_PIDFILE"]).write_text(str(os.getpid()))
    if os.environ.get("KOHYAWIZ_FAKE_IGNORE_INT") == "1":
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    config = config_values(sys.argv)
    model = str(config.get("pretrained_model_name_or_path", ""))
    if model.endswith(".safetensors") and not Path(model).exists():  # looked for from the folder it runs in
        sys.stdout.write(f'ValueError: The provided pretrained_model_name_or_path "{model}" is neither a valid '
                         "local path nor a valid repo id. Please check the parameter.\n")
        return 1
    delay = float(os.environ.get("KOHYAWIZ_FAKE_DELAY", "0"))
    text = Path(os.environ["KOHYAWIZ_FAKE_LOG"]).read_text(encoding="utf-8", errors="replace")
    code = 0
    try:
        for piece in re.split(r"(\r|\n)", text):
            match = re.match(r"^exit code: (\d+)$", piece)
            if match:
                code = int(match.group(1))
                continue
            saved = re.match(r"^saving checkpoint: (.+)$", piece)
            if saved and config.get("output_dir"):
                target = Path(config["output_dir"]) / Path(saved.group(1)).name
                write_safetensors(target, config)
                piece = f"saving checkpoint: {target}"
            stream = sys.stderr if piece.startswith("steps:") else sys.stdout
            stream.write(piece)
            stream.flush()
            if piece in ("\n", "\r"):
                time.sleep(delay)
    except KeyboardInterrupt:
        sys.stdout.write("\nKeyboardInterrupt\n")
        return 130
    return code


if __name__ == "__main__":
    raise SystemExit(main())
