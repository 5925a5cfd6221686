"""Step 5: the network, the optimizer and the options the guide leaves to the person."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.widgets import Checkbox, Input, Label, Select, Static

from kohyawiz.answers import NETWORKS, OPTIMIZERS
from kohyawiz.tui.steps.base import Step
from kohyawiz.tui.text import join, plain, strong

OPTIMIZER_NAMES = {"prodigy": "Prodigy", "dadaptadam": "DAdaptAdam", "adamw": "AdamW", "adamw8bit": "AdamW8bit"}


class NetworkStep(Step):
    step_id = "network"
    title = "Network"
    help = (
        "Left on 'guide's pick', every choice here is the guide's: a LoRA at rank 32 with alpha 1 and "
        "Prodigy (T-RANK, T-OPT), LyCORIS for styles (L-PURPOSE); a diffusion transformer (Flux, SD3, ...) "
        "takes its rank, alpha, learning rate and optimizer together from its sd-scripts doc (F-RANK, F-OPT, "
        "F-LR). LyCORIS algorithms get their own "
        "settings (L-LOCON, L-LOHA, L-LOKR, L-DYLORA, L-IA3, L-STYLE).\n\n"
        "Precision (T-PRECISION): fp16 keeps detail, bf16 trains faster. 'With other LoRAs' scales "
        "weight norms (T-NORMS); 'asymmetric' turns mirroring off (D-ASYM, T-FLIP); samples draw images "
        "while training (K-SAMPLES); saved state lets a run resume (K-RESUME); a validation loss, on sets "
        "large enough to spare images, picks the checkpoint (K-VALIDATE). The output name defaults "
        "to the first trigger (K-OUTPUT)."
    )

    def compose(self) -> ComposeResult:
        yield Static("", id="network-note", classes="note")
        yield Label("Network")
        yield Select([(n, n) for n in NETWORKS], prompt="guide's pick", id="network-select")
        yield Label("LoKr file size (LoKr only)", id="lokr-label")
        yield Select([("small (factor -1)", "small"), ("large (factor 8)", "large")], prompt="small", id="lokr-size")
        yield Label("Optimizer")
        yield Select([(OPTIMIZER_NAMES[o], o) for o in OPTIMIZERS], prompt="guide's pick (Prodigy; a DiT: its doc's)", id="optimizer")
        yield Label("Precision")
        yield Select([("fp16", "fp16"), ("bf16", "bf16")], prompt="guide's pick (fp16; bf16 where a DiT's doc asks)", id="precision")
        yield Checkbox("used together with other LoRAs", id="others")
        yield Checkbox("asymmetric details (no mirroring)", id="asym")
        yield Checkbox("sample images during training", id="samples")
        yield Checkbox("save state to allow resuming", id="state")
        yield Select([("on: set images aside", "on"), ("off", "off")],
                     prompt="validation loss: guide's pick (when the dataset can spare images)", id="validation")
        yield Label("Output name (empty: the first trigger tag)")
        yield Input(placeholder="mychar", id="output-name")

    def load(self) -> None:
        s = self.state
        for select_id, value in (("network-select", s.network), ("lokr-size", s.lokr_size),
                                 ("optimizer", s.optimizer), ("precision", s.precision)):  # fmt: skip
            self.query_one(f"#{select_id}", Select).value = value if value else Select.NULL
        for box, on in (("others", s.with_other_loras), ("asym", s.asymmetric), ("samples", s.samples),
                        ("state", s.save_state)):  # fmt: skip
            self.query_one(f"#{box}", Checkbox).value = on
        choice = {True: "on", False: "off"}.get(s.validation) if s.validation is not None else None
        self.query_one("#validation", Select).value = choice or Select.NULL
        self.set_value("output-name", s.name)

    def store(self, check: bool) -> str | None:
        s = self.state

        def chosen(select_id: str) -> str | None:
            value = self.query_one(f"#{select_id}", Select).value
            return None if value is Select.NULL else str(value)

        s.network, s.lokr_size = chosen("network-select"), chosen("lokr-size")
        s.optimizer, s.precision = chosen("optimizer"), chosen("precision")
        s.with_other_loras = self.query_one("#others", Checkbox).value
        s.asymmetric = self.query_one("#asym", Checkbox).value
        s.samples = self.query_one("#samples", Checkbox).value
        s.save_state = self.query_one("#state", Checkbox).value
        picked = chosen("validation")
        s.validation = None if picked is None else picked == "on"
        name = self.value("output-name").strip()
        if check and any(c in name for c in "/\\\x00"):
            return "the output name is a file name: no / or \\"
        s.name = name
        return None

    def shown(self) -> None:
        from kohyawiz.families import family_spec, trainable_networks
        from kohyawiz.rules.network import RECOMMENDED

        s = self.state
        networks = trainable_networks(s.family) if s.family else NETWORKS
        select = self.query_one("#network-select", Select)
        select.set_options([(n, n) for n in networks])  # only what the family can train
        dropped = ""
        if s.network and s.network not in networks:
            dropped = f" Your earlier choice {s.network} cannot train this family: choose again."
            s.network = None
        select.value = s.network or Select.NULL
        lokr = "lokr" in networks
        self.query_one("#lokr-size", Select).display = lokr
        self.query_one("#lokr-label", Label).display = lokr
        note = self.query_one("#network-note", Static)
        if s.family and family_spec(s.family).dit:
            spec = family_spec(s.family)
            note.update(join(plain(f"{spec.label} trains a LoRA with "), strong(spec.network_module),
                             plain(f" ({spec.script}'s own module); LyCORIS is planned for the SD families only."
                                   f"{dropped}")))  # fmt: skip
            return
        purpose = "multi-concept" if s.several else {"style": "styles", "concept": "concepts"}.get(s.subject or "", "general")
        picks = ", ".join(RECOMMENDED[purpose])
        note.update(join(plain(f"Guide's picks for {purpose}: "), strong(picks),
                         plain(f". Left on 'guide's pick', kohyawiz chooses.{dropped}")))  # fmt: skip
