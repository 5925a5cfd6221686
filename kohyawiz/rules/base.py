"""The rule engine's vocabulary: kohyawiz's own rule ids; the types live in kohyawiz.decisions."""

from __future__ import annotations

from kohyawiz.decisions import Decider, Decision, Finding, Level, Source

# kohyawiz's own plumbing, beside the guide's rule ids of RULES.md.
OWN_RULES = {
    "K-OUTPUT": "where sd-scripts writes the LoRA and what it is called",
    "K-SAMPLES": "sample images during training, from the tag-style template",
    "K-RESUME": "saving training state so a run can be resumed",
    "K-OVERRIDE": "a setting no rule decides, set explicitly",
    "K-VRAM": "the memory model's fallback ladder, when a plan does not fit the card",
    "K-RESERVE": "fits means the peak phase stays under the card less a named reserve; tight between",
    "K-RAM": "the run's system memory against the machine's, with its own ladder",
    "K-MEASURED": "earlier runs' measured peaks on the same GPU model correct the estimate",
    "K-CHECK": "a Kohya user's dataset config or --config_file, checked key by key against the target sd-scripts",
    "K-PROCESSES": "many GPUs or machines: steps divide by every process, runs are counted in epochs, every bucket "
    "fills every process, memory is per card",
    "K-LOGS": "TensorBoard logs for every run; other trackers only when you ask on the command line",
    "K-LYCORIS": "diag-oft, boft and full: dim, alpha and network_args as the LyCORIS library fixes them",
    "K-NETARGS": "your network options merged over the network_args a rule chose",
    "K-VALIDATE": "sd-scripts' own validation on images set aside, with a fixed seed, when the dataset can spare "
    "them (or --validate): the checkpoint with the lowest validation loss is the one to try first",
}


__all__ = ["OWN_RULES", "Decider", "Decision", "Finding", "Level", "Source"]
