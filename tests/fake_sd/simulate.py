"""A test double of train_network.py's step loop and resume arithmetic (sd-scripts main 48d368fa),
for tests that must fail when kohyawiz resumes with the wrong arguments.

What it reproduces, as read in train_network.py and library/train_util.py:
- steps per epoch from the dataset config (images x repeats / batch / accumulation), the run's
  length from max_train_epochs (else max_train_steps), and the epoch and step saves with their
  file names (`name-000002`, `name-step00000012`, `-state` folders, `name` at the end);
- a state's train_state.json holds the process's own step count, not the run's;
- on `--resume`: `--initial_step` (else the state's count) is the step to start from; with
  `--skip_until_initial_step` the epochs before it are skipped and so are the batches it already
  trained in its epoch, and the step counter restarts at the step within that epoch; without it
  only whole epochs are skipped and the counter restarts at 0;
- the run stops at the end of its last epoch or when the counter reaches max_train_steps.

KOHYAWIZ_FAKE_KILL_AFTER_STATES=N: after the N-th state this process saves and one more step, it
kills itself (a run killed after its first saved state); KOHYAWIZ_FAKE_KILL_IN_STATE=N kills it
while it writes its N-th state. Every optimizer step it trains is
appended to KOHYAWIZ_FAKE_TRAINED (one line: the batch's epoch and index; `launch` as each
process starts), so a test can count
the optimizer steps over all resumes and see which batches were trained twice.
"""

from __future__ import annotations

import json
import math
import os
import signal
import sys
import tomllib
from pathlib import Path

from replay import config_values, write_safetensors

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp")


def option(argv: list[str], flag: str) -> str | None:
    return argv[argv.index(flag) + 1] if flag in argv[:-1] else None


def batches_per_epoch(argv: list[str], config: dict) -> int:
    dataset = tomllib.loads(Path(option(argv, "--dataset_config") or "").read_text())
    batch = int(dataset.get("general", {}).get("batch_size", config.get("train_batch_size", 1)))
    split = float(dataset.get("general", {}).get("validation_split", 0.0))
    images = 0
    for group in dataset.get("datasets", []):
        for subset in group.get("subsets", []):
            found = [p for p in Path(subset["image_dir"]).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES]
            kept = math.ceil(len(found) * (1 - split))  # library/train_util.py split_train_val
            images += kept * int(subset.get("num_repeats", 1))
    return math.ceil(images / batch)


BAR_OPEN = [False]


def bar(n: int, total: int, loss: float | None) -> None:
    """tqdm's bar: drawn with no loss before the first step."""
    percent = int(100 * n / total) if total else 100
    postfix = "" if loss is None else f", avr_loss={loss:.3g}"
    sys.stderr.write(f"\rsteps: {percent:3d}%|###| {n}/{total} [00:01<00:01, 10.00it/s{postfix}]")
    sys.stderr.flush()
    BAR_OPEN[0] = True


def say(text: str) -> None:
    """A line; after tqdm's bar (which ends its line with nothing) it starts on a line of its own,
    as sd-scripts' own prints begin with a newline."""
    sys.stdout.write(("\n" if BAR_OPEN[0] else "") + text + "\n")
    sys.stdout.flush()
    BAR_OPEN[0] = False


class Run:
    def __init__(self, argv: list[str]) -> None:
        self.argv = argv
        self.config = config_values(argv)
        self.output = Path(self.config["output_dir"])
        self.name = str(self.config.get("output_name", "last"))
        self.accumulation = int(self.config.get("gradient_accumulation_steps", 1))
        self.batches = batches_per_epoch(argv, self.config)
        self.per_epoch = math.ceil(self.batches / self.accumulation)
        epochs = self.config.get("max_train_epochs")
        self.max_steps = int(epochs) * self.per_epoch if epochs else int(self.config.get("max_train_steps", 1600))
        self.epochs = math.ceil(self.max_steps / self.per_epoch)
        self.states_saved = 0
        self.kill_after = int(os.environ.get("KOHYAWIZ_FAKE_KILL_AFTER_STATES", "0"))
        self.trained = os.environ.get("KOHYAWIZ_FAKE_TRAINED")

    def save_state(self, folder: Path, line: str, epoch: int, step: int) -> None:
        say(line)
        folder.mkdir(parents=True, exist_ok=True)
        if self.states_saved + 1 == int(os.environ.get("KOHYAWIZ_FAKE_KILL_IN_STATE", "0")):
            os.kill(os.getpid(), signal.SIGKILL)  # killed while the state was being written
        (folder / "train_state.json").write_text(json.dumps({"current_epoch": epoch, "current_step": step}))
        self.states_saved += 1

    def checkpoint(self, file_name: str) -> None:
        say(f"saving checkpoint: {self.output / file_name}")
        write_safetensors(self.output / file_name, self.config)

    def start(self) -> tuple[int, int, int]:
        """(epoch to start at, batches to skip in it, the step counter's start)."""
        resume = option(self.argv, "--resume")
        from_state = None
        if resume:
            from_state = json.loads((Path(resume) / "train_state.json").read_text())["current_step"]
        given = option(self.argv, "--initial_step")
        initial = int(given) if given is not None else (from_state or 0)
        if initial <= 0:
            return 0, 0, 0
        if initial >= self.max_steps:
            raise SystemExit(f"AssertionError: max_train_steps should be greater than initial step: {self.max_steps}")
        if "--skip_until_initial_step" not in self.argv:
            return initial // self.per_epoch, 0, 0
        initial *= self.accumulation
        first = initial // self.per_epoch
        within = initial - first * self.batches
        return first, within, within

    def main(self) -> int:
        say("running training / 学習開始")
        say(f"  num epochs / epoch数: {self.epochs}")
        say(f"  total optimization steps / 学習ステップ数: {self.max_steps}")
        first, skip, step = self.start()
        if self.trained:
            with open(self.trained, "a", encoding="utf-8") as out:
                out.write("launch\n")
        total = self.max_steps - step
        bar(0, total, None)
        done = 0
        for epoch in range(first, self.epochs):
            say(f"\nepoch {epoch + 1}/{self.epochs}\n")
            for batch in range(self.batches):
                if skip > 0:
                    skip -= 1
                    continue
                if (batch + 1) % self.accumulation:
                    continue
                step += 1
                done += 1
                if self.trained:
                    with open(self.trained, "a", encoding="utf-8") as out:
                        out.write(f"{epoch + 1} {batch}\n")
                bar(done, total, 0.1 + 0.01 * (step % 7))
                if self.kill_after and self.states_saved >= self.kill_after:
                    os.kill(os.getpid(), signal.SIGKILL)
                every = self.config.get("save_every_n_steps")
                if every and step % int(every) == 0:
                    self.checkpoint(f"{self.name}-step{step:08d}.safetensors")
                    if self.config.get("save_state"):
                        folder = self.output / f"{self.name}-step{step:08d}-state"
                        self.save_state(folder, f"saving state at step {step}", epoch + 1, step)
                if step >= self.max_steps:
                    break
            every = self.config.get("save_every_n_epochs")
            if every and (epoch + 1) % int(every) == 0 and epoch + 1 < self.epochs:
                self.checkpoint(f"{self.name}-{epoch + 1:06d}.safetensors")
                if self.config.get("save_state"):
                    folder = self.output / f"{self.name}-{epoch + 1:06d}-state"
                    self.save_state(folder, f"saving state at epoch {epoch + 1}", epoch + 1, step)
        if self.config.get("save_state"):
            self.save_state(self.output / f"{self.name}-state", "saving last state.", self.epochs, step)
        self.checkpoint(f"{self.name}.safetensors")
        say("model saved.")
        return 0


def main() -> int:
    return Run(sys.argv).main()
