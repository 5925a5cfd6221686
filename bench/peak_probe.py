"""Runs an sd-scripts trainer in this process and prints the peak GPU memory torch allocated.

    SD_PYTHON bench/peak_probe.py <sd-scripts>/train_network.py --config_file ... --dataset_config ...

Used by bench/vram_gpu.py; it runs with sd-scripts' Python, not kohyawiz's.
"""

from __future__ import annotations

import os
import runpy
import sys

import torch

script = os.path.abspath(sys.argv[1])
sys.argv = sys.argv[1:]
sys.path.insert(0, os.path.dirname(script))
os.chdir(os.path.dirname(script))
try:
    runpy.run_path(script, run_name="__main__")
finally:
    if torch.cuda.is_available():
        print(f"KOHYAWIZ_PEAK_BYTES={torch.cuda.max_memory_allocated()}", flush=True)
