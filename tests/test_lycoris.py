"""Every LyCORIS algorithm's emitted network_args build a real lycoris-lora network on SD1- and
SDXL-shaped modules, wrap them, and train for a step (CPU torch)."""

from __future__ import annotations

import pytest
from conftest import plan_for

lycoris_kohya = pytest.importorskip("lycoris.kohya")
torch = pytest.importorskip("torch")
from toy_sd import C, ToyTextEncoder, ToyUNet  # noqa: E402

from kohyawiz.emit import write_plan  # noqa: E402

pytestmark = pytest.mark.lycoris

ALGOS = ["locon", "loha", "lokr", "glora", "ia3", "diag-oft", "boft", "full"]
MODULE_CLASS = {
    "locon": "LoConModule", "loha": "LohaModule", "lokr": "LokrModule", "glora": "GLoRAModule",
    "ia3": "IA3Module", "diag-oft": "DiagOFTModule", "boft": "ButterflyOFTModule", "full": "FullModule",
}  # fmt: skip
_STATE = (
    "ENABLE_CONV", "UNET_TARGET_REPLACE_MODULE", "UNET_TARGET_REPLACE_NAME", "TEXT_ENCODER_TARGET_REPLACE_MODULE",
    "TEXT_ENCODER_TARGET_REPLACE_NAME", "MODULE_ALGO_MAP", "NAME_ALGO_MAP", "USE_FNMATCH", "TARGET_EXCLUDE_NAME",
)  # fmt: skip


@pytest.fixture(autouse=True)
def restore_lycoris_class_state():
    """lycoris.kohya keeps preset targets in class attributes that outlive a network."""
    cls = lycoris_kohya.LycorisNetworkKohya
    saved = {name: getattr(cls, name, None) for name in _STATE}
    yield
    for name, value in saved.items():
        setattr(cls, name, value)


def network_kwargs(network_args):
    """Exactly what sd-scripts does: split each item at the first '=', keep strings, add dropout."""
    kwargs = {}
    for item in network_args:
        key, value = item.split("=", 1)
        kwargs[key] = value
    kwargs.setdefault("dropout", None)
    return kwargs


@pytest.mark.parametrize("family", ["sd1", "sdxl"])
@pytest.mark.parametrize("algo", ALGOS)
def test_emitted_args_build_and_train(tmp_path, algo, family):
    plan = plan_for(tmp_path, network=algo, model={"family": family}, optimizer="adamw", vram_gb=80 if algo == "full" else 12)
    write_plan(plan)  # the preset file the args may point at
    args = plan.value("network_args")
    assert plan.value("network_module") == "lycoris.kohya"
    torch.manual_seed(0)
    unet, te = ToyUNet(sdxl=family == "sdxl"), ToyTextEncoder()
    network = lycoris_kohya.create_network(
        1.0, plan.value("network_dim"), plan.value("network_alpha"), None, [te], unet, **network_kwargs(args)
    )
    network.apply_to([te], unet, True, True)
    wrapped = list(network.unet_loras) + list(network.text_encoder_loras)
    assert len(network.unet_loras) > 0 and len(network.text_encoder_loras) > 0
    assert {type(m).__name__ for m in wrapped} == {MODULE_CLASS[algo]}
    if algo not in ("ia3",):
        assert any(
            isinstance(m.org_module[0], torch.nn.Conv2d) for m in network.unet_loras if hasattr(m, "org_module")
        ), "conv layers wrapped"
    params = [p for p in network.parameters() if p.requires_grad]
    assert params
    x, t, tokens = torch.randn(2, 4, 8, 8), torch.randn(2, C), torch.randn(2, 5, C)
    loss = unet(x, t).pow(2).mean() + te(tokens).pow(2).mean()
    loss.backward()
    assert torch.isfinite(loss)
    assert any(p.grad is not None and torch.isfinite(p.grad).all() for p in params)


def test_builtin_full_preset_breaks_on_sd1_shapes_which_is_why_kohyawiz_writes_its_own(tmp_path):
    unet, te = ToyUNet(sdxl=False), ToyTextEncoder()
    with pytest.raises(AssertionError, match="duplicated lora name"):
        network = lycoris_kohya.create_network(1.0, 8, 1.0, None, [te], unet, algo="locon", preset="full", dropout=None)
        network.apply_to([te], unet, True, True)
