"""Step-named checkpoints and states of a resumed launch, renamed to the run's own step.

After a resume past its first epoch, train_network.py (v0.9.1 and main 48d368fa) sets its step
counter to the step within the epoch it resumes in (what is left after skipping whole epochs), or
to 0 with gradient accumulation; names and `save_every_n_steps` follow that counter. So the
resumed launch would write `name-step00000004` again for the run's step 16, over the earlier
launch's file. Before such a launch the earlier step-named files are set aside; after it, what it
wrote is renamed to the run's step and the earlier files come back (an earlier file whose step the
resumed launch trained again, after the state it resumed from, is kept in a `superseded` folder).
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

STASH = ".kohyawiz-earlier"
SUPERSEDED = ".kohyawiz-superseded"


def counter_lag(step: int, steps_per_epoch: int, accumulation: int) -> int:
    """How far sd-scripts' step counter trails the run's after resuming at `step`."""
    if steps_per_epoch <= 0 or step <= 0:
        return 0
    if accumulation > 1:
        return step  # only whole epochs are skipped: the counter starts at 0
    return (step // steps_per_epoch) * steps_per_epoch


def _step_name(output_name: str) -> re.Pattern[str]:
    return re.compile(rf"^{re.escape(output_name)}-step(\d{{8}})((?:-state)?(?:\.[A-Za-z0-9]+)?)$")


@dataclass
class Renumbering:
    output_dir: Path
    output_name: str
    lag: int
    keep: Path
    """The state this launch resumes from: sd-scripts reads it, so it stays in place."""
    stashed: list[Path] = field(default_factory=list)

    @property
    def stash_dir(self) -> Path:
        return self.output_dir / STASH

    def stash(self) -> None:
        recover(self.output_dir)
        pattern = _step_name(self.output_name)
        for path in sorted(self.output_dir.iterdir()) if self.output_dir.is_dir() else []:
            if pattern.match(path.name) and path.resolve() != self.keep.resolve():
                self.stash_dir.mkdir(exist_ok=True)
                target = self.stash_dir / path.name
                path.rename(target)
                self.stashed.append(target)

    def renumber(self, written: list[str]) -> dict[str, str]:
        """Rename what this launch wrote under a step name to the run's step; old -> new."""
        pattern = _step_name(self.output_name)
        renamed: dict[str, str] = {}
        moves = []
        for text in dict.fromkeys(written):
            path = Path(text)
            match = pattern.match(path.name)
            if match is None or not path.exists() or path.parent != self.output_dir:
                continue
            run_step = int(match.group(1)) + self.lag
            moves.append((path, path.with_name(f"{self.output_name}-step{run_step:08d}{match.group(2)}")))
        for source, _ in moves:  # two steps, so a rename never lands on a name not yet moved
            source.rename(source.with_name(source.name + ".renumbering"))
        for source, target in moves:
            if target.exists():
                self._supersede(target)
            source.with_name(source.name + ".renumbering").rename(target)
            renamed[str(source)] = str(target)
        return renamed

    def restore(self) -> None:
        for path in self.stashed:
            target = self.output_dir / path.name
            if target.exists():
                self._supersede(path)
            elif path.exists():
                path.rename(target)
        if self.stash_dir.is_dir() and not any(self.stash_dir.iterdir()):
            self.stash_dir.rmdir()

    def _supersede(self, path: Path) -> None:
        supersede(self.output_dir, path)


def supersede(output_dir: Path, path: Path) -> None:
    folder = output_dir / SUPERSEDED
    folder.mkdir(exist_ok=True)
    target = folder / path.name
    if target.exists():
        _remove(target)
    path.rename(target)


def recover(output_dir: Path) -> None:
    """Files set aside by a kohyawiz that was itself stopped mid-launch go back; a file of that
    launch under the same name still has sd-scripts' lagging step in it, so it is superseded."""
    stash = output_dir / STASH
    if not stash.is_dir():
        return
    for path in sorted(stash.iterdir()):
        target = output_dir / path.name
        if target.exists():
            supersede(output_dir, target)
        path.rename(target)
    stash.rmdir()


def _remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path)
    else:
        path.unlink()
