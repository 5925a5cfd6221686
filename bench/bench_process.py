"""Whole-process timings, as a person meets them: each figure is the median wall time of a new
`python -m kohyawiz ...` process (start-up and imports included).

    python bench/bench_process.py [--runs 5] [--data DIR] [--sd-scripts DIR --sd-python PY]

- `plan --preset character-sd15 --dataset` over 1,000 captioned images (the doctor included);
- `check DIR` of 10,000 captioned images whose sizes repeat, so the duplicate search has to tell
  equal-sized files apart (each file about 40 KB, the first 40 rows noise);
- `check dataset.toml` refusing an unknown key, and, with --sd-scripts and --sd-python, sd-scripts'
  own train_network.py reaching the same refusal (run it under `flock /work/sd/heavy.lock`).

The data is made once under --data (default: a temporary folder) and reused by later runs.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import struct
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
NOISY_ROWS = 40


def png(width: int, height: int, seed: int) -> bytes:
    """An RGB PNG whose first rows are noise (stored, so equal sizes give equal file sizes) and
    whose rest is one flat shade."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    noise = os.urandom(NOISY_ROWS * width * 3)
    rows = [b"\x00" + noise[r * width * 3 : (r + 1) * width * 3] for r in range(NOISY_ROWS)]
    rows += [b"\x00" + bytes([seed % 256]) * (width * 3)] * (height - NOISY_ROWS)
    compressor = zlib.compressobj(0)  # stored: the size depends on the dimensions only
    data = compressor.compress(b"".join(rows[:NOISY_ROWS])) + compressor.flush(zlib.Z_FULL_FLUSH)
    data += zlib.compress(b"".join(rows[NOISY_ROWS:]), 9)
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b"")


def make_folder(root: Path, count: int) -> Path:
    folder = root / "10_bench"
    if folder.is_dir() and len(list(folder.glob("*.png"))) == count:
        return root
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        width, height = 512 + 64 * (i % 4), 512 + 64 * ((i // 4) % 4)  # 16 sizes, each shared by many files
        (folder / f"{i:05d}.png").write_bytes(png(width, height, i))
        (folder / f"{i:05d}.txt").write_text("bench, solo, standing, simple background")
    return root


def median_seconds(argv: list[str], runs: int, expect: int | None = 0, cwd: Path = REPO) -> tuple[float, float]:
    """Median wall time and median CPU time (user + system) of `runs` new processes. On a shared
    machine the CPU time is the steadier figure: waiting for a core counts in the wall time only."""
    walls, cpus = [], []
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True)
        walls.append(time.perf_counter() - start)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
        if expect is not None and done.returncode != expect:
            raise SystemExit(f"{argv[:4]}... exited {done.returncode}: {(done.stdout + done.stderr)[-800:]}")
    return statistics.median(walls), statistics.median(cpus)


def figure(what: str, seconds: tuple[float, float], runs: int) -> str:
    return f"{what}: {seconds[0]:.3f} s wall, {seconds[1]:.3f} s CPU (medians of {runs})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--data", type=Path, default=None)
    parser.add_argument("--sd-scripts", type=Path, default=None)
    parser.add_argument("--sd-python", type=Path, default=None)
    args = parser.parse_args()
    data = args.data or Path(tempfile.mkdtemp(prefix="kohyawiz-bench-"))
    kohyawiz = [sys.executable, "-m", "kohyawiz"]

    small = make_folder(data / "plan-1000", 1000)
    out = data / "plan-out"
    plan_argv = [*kohyawiz, "plan", "--preset", "character-sd15", "--dataset", str(small),
                 "--model", "/models/base.safetensors", "--vram", "12", "--out", str(out), "--force"]  # fmt: skip
    print(figure("plan --preset over 1,000 images", median_seconds(plan_argv, args.runs), args.runs))

    large = make_folder(data / "check-10000", 10_000)
    check_s = median_seconds([*kohyawiz, "check", str(large)], args.runs, expect=None)
    print(figure("check of 10,000 images", check_s, args.runs))

    bad = data / "bad-dataset.toml"
    bad.write_text(f'[general]\nresolution = 512\n\n[[datasets]]\n\n  [[datasets.subsets]]\n'
                   f'  image_dir = "{small / "10_bench"}"\n  num_repeats = 1\n  foo = 1\n')  # fmt: skip
    refuse_s = median_seconds([*kohyawiz, "check", str(bad)], args.runs, expect=1)
    print(figure("check dataset.toml refusing an unknown key", refuse_s, args.runs))
    if args.sd_scripts and args.sd_python:
        sd_argv = [str(args.sd_python), str(args.sd_scripts / "train_network.py"), "--dataset_config", str(bad),
                   "--pretrained_model_name_or_path", str(data / "no-model.safetensors"),
                   "--output_dir", str(data / "sd-out"), "--network_module", "networks.lora",
                   "--tokenizer_cache_dir", str(args.sd_scripts.parent.parent / "sd" / "models" / "tokenizer_cache")]  # fmt: skip
        if os.environ.get("KOHYAWIZ_TOKENIZER_CACHE"):
            sd_argv[-1] = os.environ["KOHYAWIZ_TOKENIZER_CACHE"]
        sd_runs = max(1, min(args.runs, 3))
        sd_s = median_seconds(sd_argv, sd_runs, expect=1, cwd=args.sd_scripts)
        print(figure("sd-scripts train_network.py reaching the same refusal", sd_s, sd_runs))
        print(f"kohyawiz refuses {sd_s[0] / refuse_s[0]:.0f}x sooner (wall), {sd_s[1] / refuse_s[1]:.0f}x (CPU)")


if __name__ == "__main__":
    main()
