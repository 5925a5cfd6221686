"""Step 4: the GPU: its memory (required; read from nvidia-smi when there is one) and how many
train together."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Input, Label, Static

from kohyawiz.tui.state import number_problem
from kohyawiz.tui.steps.base import Step, problem_line
from kohyawiz.tui.text import plain

VRAM_RANGE = (1.0, 1024.0)
GPU_RANGE = (1, 64)
NODE_RANGE = (1, 256)
RAM_RANGE = (1.0, 65536.0)


def vram_problem(text: str) -> str | None:
    return number_problem(text, what="GPU memory in GB", low=VRAM_RANGE[0], high=VRAM_RANGE[1])


def gpus_problem(text: str) -> str | None:
    return number_problem(text, what="the number of GPUs", low=GPU_RANGE[0], high=GPU_RANGE[1], whole=True)


def ram_problem(text: str) -> str | None:
    """Empty is fine: the plan reads this machine's memory (K-RAM) and only warns against it."""
    if not text.strip():
        return None
    return number_problem(text, what="system memory in GB", low=RAM_RANGE[0], high=RAM_RANGE[1])


def nodes_problem(text: str) -> str | None:
    return number_problem(text, what="the number of machines", low=NODE_RANGE[0], high=NODE_RANGE[1], whole=True)


class HardwareStep(Step):
    step_id = "hardware"
    title = "Hardware"
    help = (
        "How much memory the GPU that trains has, in GB (e.g. 8, 12, 24). kohyawiz estimates what the "
        "plan needs (figures.vram in plan.json) and, when it does not fit, climbs a fixed ladder "
        "(K-VRAM): cached text-encoder outputs for SDXL, gradient checkpointing, latents on disk, an "
        "8-bit optimizer, a lower rank, fp8 base weights, a lower resolution. Settings you choose "
        "yourself are never changed by it.\n\n"
        "The memory also picks T-CACHE, T-GRADCKPT, T-LOADER and T-RES's resolution for weak cards. "
        "Several GPUs train together through accelerate (--multi_gpu); steps per epoch divide by every GPU "
        "of every machine, and each card needs the whole memory (K-PROCESSES). Several machines are a "
        "cluster or rented GPUs: `kohyawiz export PLAN --slurm` or `--skypilot` launches them.\n\n"
        "System memory (K-RAM): model files, swapped blocks and cached data sit in RAM. Give the RAM of the "
        "machine that trains (the CLI's --ram) and a plan that does not fit it is refused; left empty, this "
        "machine's memory is read and a shortfall is only warned about."
    )

    def compose(self) -> ComposeResult:
        yield Label("GPU memory in GB (required)")
        yield Input(placeholder="e.g. 12", id="vram")
        yield problem_line("vram")
        yield Label("GPUs per machine, machines, and the RAM in GB of one that trains (F1)")
        with Horizontal(id="gpus-and-nodes"):
            with Vertical():
                yield Input("1", id="gpus", tooltip="GPUs per machine")
                yield problem_line("gpus")
            with Vertical():
                yield Input("1", id="nodes", tooltip="machines: more than 1 is a cluster or rented GPUs")
                yield problem_line("nodes")
            with Vertical():
                yield Input(placeholder="RAM: this one's", id="ram",
                            tooltip="system memory of the machine that trains; empty: this machine's")  # fmt: skip
                yield problem_line("ram")
        yield Static("", id="gpu-found", classes="note")

    def load(self) -> None:
        s = self.state
        self.set_value("vram", "" if s.vram_gb is None else f"{s.vram_gb:g}")
        self.set_value("gpus", str(s.gpus))
        self.set_value("nodes", str(s.nodes))
        self.set_value("ram", "" if s.ram_gb is None else f"{s.ram_gb:g}")

    def store(self, check: bool) -> str | None:
        s = self.state
        vram, gpus, nodes, ram = self.value("vram"), self.value("gpus"), self.value("nodes"), self.value("ram")
        problems = [p for p in (vram_problem(vram), gpus_problem(gpus), nodes_problem(nodes), ram_problem(ram)) if p]
        self.field_problem("vram", vram_problem(vram) if vram.strip() or check else None)
        self.field_problem("gpus", gpus_problem(gpus))
        self.field_problem("nodes", nodes_problem(nodes))
        self.field_problem("ram", ram_problem(ram))
        if ram_problem(ram) is None:
            s.ram_gb = float(ram) if ram.strip() else None
        if vram_problem(vram) is None:
            typed = float(vram)
            if s.vram_gb != typed:
                s.vram_source = ""
            s.vram_gb = typed
        elif not vram.strip():
            s.vram_gb = None
        if gpus_problem(gpus) is None:
            s.gpus = int(gpus)
        if nodes_problem(nodes) is None:
            s.nodes = int(nodes)
        return problems[0] if check and problems else None

    def shown(self) -> None:
        from kohyawiz.run.gpu import detect_gpus

        gpus = detect_gpus()
        note = self.query_one("#gpu-found", Static)
        if not gpus:
            note.update(plain("No nvidia-smi here: give the memory of the GPU that will train."))
            return
        note.update(plain(f"nvidia-smi: {len(gpus)} x {gpus[0].name}, {gpus[0].memory_gb:g} GB"))
        if not self.state.gpu_name:
            self.state.gpu_name = gpus[0].name  # earlier runs measured on this model correct the estimate
        if not self.value("vram").strip():
            self.set_value("vram", f"{gpus[0].memory_gb:g}")
            self.state.vram_source = "nvidia-smi"
            note.update(plain(f"From nvidia-smi: {len(gpus)} x {gpus[0].name}, {gpus[0].memory_gb:g} GB "
                              "(change it if another card will train)"))  # fmt: skip

    @on(Input.Changed, "#vram")
    def _vram_typed(self, event: Input.Changed) -> None:
        self.field_problem("vram", vram_problem(event.value) if event.value.strip() else None)

    @on(Input.Changed, "#gpus")
    def _gpus_typed(self, event: Input.Changed) -> None:
        self.field_problem("gpus", gpus_problem(event.value))

    @on(Input.Changed, "#ram")
    def _ram_typed(self, event: Input.Changed) -> None:
        self.field_problem("ram", ram_problem(event.value))

    @on(Input.Changed, "#nodes")
    def _nodes_typed(self, event: Input.Changed) -> None:
        self.field_problem("nodes", nodes_problem(event.value))
