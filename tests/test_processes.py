"""Many GPUs, many machines (K-PROCESSES): steps as sd-scripts counts them over every process."""

from __future__ import annotations

import ast
import math
import os
from pathlib import Path
from types import SimpleNamespace

import pytest

from kohyawiz import emit
from kohyawiz.cli.explain_cmd import rule_catalog
from kohyawiz.errors import UserError
from tests.conftest import plan_for


def test_two_machines_of_eight_gpus_divide_every_epoch_by_sixteen(tmp_path):
    plan = plan_for(tmp_path, gpus=8, nodes=2, concepts=[{"name": "hmbrgr", "images": 40}])
    figures = plan.figures
    assert figures.processes == 16
    assert figures.steps_per_epoch == math.ceil(figures.batches_per_epoch / 16)
    assert figures.total_steps == figures.epochs * figures.steps_per_epoch
    assert plan.value("max_train_epochs") == figures.epochs and plan.value("max_train_steps") is None
    assert any("16 processes (2 machines x 8 GPUs)" in line for line in figures.arithmetic)
    args = emit.accelerate_args(plan)
    assert args[args.index("--num_processes") + 1] == "16"
    assert args[args.index("--num_machines") + 1] == "2" and "--multi_gpu" in args


def test_accumulation_and_processes_divide_together(tmp_path):
    plan = plan_for(tmp_path, gpus=8, nodes=2, concepts=[{"name": "hmbrgr", "images": 50, "repeats": 7}],
                    overrides={"gradient_accumulation_steps": 3})  # fmt: skip
    batches = plan.figures.batches_per_epoch
    assert batches == plan.figures.images_with_repeats > 16 * 3
    assert plan.figures.steps_per_epoch == math.ceil(batches / 16 / 3)


def test_one_machine_keeps_its_launch(tmp_path):
    args = emit.accelerate_args(plan_for(tmp_path))
    assert args[args.index("--num_machines") + 1] == "1" and "--multi_gpu" not in args


def test_fixed_steps_on_several_gpus_is_refused_with_the_epochs_to_set(tmp_path):
    with pytest.raises(UserError, match=r"K-PROCESSES: max_train_steps 1600 .* set max_train_epochs=54") as caught:
        plan_for(tmp_path, gpus=8, nodes=2, overrides={"max_train_steps": 1600})
    assert "\n" not in str(caught.value)
    single = plan_for(tmp_path, overrides={"max_train_steps": 1600})  # one GPU: steps mean what they say
    assert single.value("max_train_steps") == 1600 and single.figures.total_steps == 1600
    both = plan_for(tmp_path, gpus=4, overrides={"max_train_steps": 1600, "max_train_epochs": 5})
    assert both.value("max_train_epochs") == 5 and both.figures.steps_per_epoch == math.ceil(30 / 4)


def test_a_bucket_that_cannot_fill_every_process_says_what_to_change(tmp_path):
    sizes = {"hmbrgr": [(512, 512)] * 28 + [(1024, 512)] * 2}
    plan = plan_for(tmp_path, gpus=4, sizes=sizes, overrides={"enable_bucket": True})
    found = [f for f in plan.findings if f.rule == "K-PROCESSES" and f.level == "warn"]
    assert len(found) == 1 and "4 processes = 4 images" in found[0].message and "repeats" in found[0].message
    assert "holds 2" in found[0].message
    assert not [f for f in plan_for(tmp_path, sizes=sizes).findings if f.rule == "K-PROCESSES"]


def test_memory_is_per_card(tmp_path):
    plan = plan_for(tmp_path, gpus=2, nodes=3)
    memory = [f for f in plan.findings if f.rule == "K-PROCESSES" and f.level == "info"]
    assert memory and "does not add up across cards" in memory[0].message
    assert plan.vram is not None and f"{plan.vram.estimate_gb:.1f} GB" in memory[0].message
    assert "K-PROCESSES" in rule_catalog()
    # the per-card note follows the VRAM part it is about, not the RAM of one machine
    from kohyawiz.cli.show import vram_line
    from kohyawiz.rules.processes import per_card

    line = vram_line(plan.vram.as_dict(), per_card(plan.answers.processes))
    vram_part, _, ram_part = line.partition("; RAM about")
    assert "on each of 6 cards" in vram_part and ram_part and "cards" not in ram_part


def _sd_scripts() -> Path:
    root = os.environ.get("KOHYAWIZ_SD_SCRIPTS")
    if not root or not (Path(root) / "train_network.py").is_file():
        pytest.skip("set KOHYAWIZ_SD_SCRIPTS to an sd-scripts checkout")
    return Path(root)


def _epochs_to_steps(source: str) -> ast.expr:
    """The expression train_network.py assigns to args.max_train_steps when max_train_epochs is set."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.If) and "max_train_epochs" in ast.unparse(node.test):
            for inner in node.body:
                if isinstance(inner, ast.Assign) and ast.unparse(inner.targets[0]) == "args.max_train_steps":
                    return inner.value
    raise AssertionError("train_network.py no longer turns max_train_epochs into max_train_steps")


@pytest.mark.sdscripts
@pytest.mark.parametrize(("gpus", "nodes", "accumulation"), [(8, 2, 1), (8, 2, 4), (3, 1, 2), (1, 1, 1)])
def test_steps_match_sd_scripts_own_expression(tmp_path, gpus, nodes, accumulation):
    """sd-scripts' own arithmetic, evaluated on the plan's batches: the real line of train_network.py."""
    expression = _epochs_to_steps((_sd_scripts() / "train_network.py").read_text(encoding="utf-8"))
    plan = plan_for(tmp_path, gpus=gpus, nodes=nodes, concepts=[{"name": "hmbrgr", "images": 37, "repeats": 3}],
                    overrides={"gradient_accumulation_steps": accumulation})  # fmt: skip
    names = {
        "math": math, "len": len, "train_dataloader": range(plan.figures.batches_per_epoch),
        "accelerator": SimpleNamespace(num_processes=gpus * nodes),
        "args": SimpleNamespace(max_train_epochs=plan.value("max_train_epochs"),
                                gradient_accumulation_steps=accumulation),
    }  # fmt: skip
    code = compile(ast.Expression(expression), "train_network.py", "eval")
    assert eval(code, names) == plan.figures.total_steps  # sd-scripts' own expression, parsed above


def test_a_plan_for_several_machines_is_not_trained_here(tmp_path, monkeypatch):
    import sys

    from kohyawiz.run.sdscripts.locate import find_sd_scripts
    from kohyawiz.run.train import PlanFolder, preflight

    monkeypatch.setenv("KOHYAWIZ_HOME", str(tmp_path / "home"))
    plan = plan_for(tmp_path, gpus=2, nodes=2)
    emit.write_plan(plan)
    folder = PlanFolder.load(plan.out_dir)
    assert folder.machines == 2
    fake = Path(__file__).resolve().parent / "fake_sd"
    errors = preflight(folder, find_sd_scripts(str(fake), sys.executable), check_python=False).errors
    assert any("2 machines" in e and "--slurm" in e for e in errors)


def test_kohya_gui_carries_machines_both_ways(tmp_path):
    from kohyawiz.interop.export import gui_config
    from kohyawiz.interop.kohya import import_settings

    out = gui_config(plan_for(tmp_path, gpus=8, nodes=2))
    assert (out["num_processes"], out["num_machines"], out["multi_gpu"]) == (16, 2, True)
    back = import_settings({**out, "pretrained_model_name_or_path": "/m.safetensors"}, "gui.json")
    assert (back.answers["gpus"], back.answers["nodes"]) == (8, 2)
    assert {r.key: r.status for r in back.report}["num_machines"] == "mapped"


def _assigned(source: str, target: str) -> ast.expr:
    """The last expression train_network.py assigns to `target` (a plain name)."""
    found = [n.value for n in ast.walk(ast.parse(source))
             if isinstance(n, ast.Assign) and [ast.unparse(t) for t in n.targets] == [target]]  # fmt: skip
    assert found, f"train_network.py no longer assigns {target}"
    return found[-1]


@pytest.mark.sdscripts
@pytest.mark.parametrize(("gpus", "nodes", "accumulation", "images"), [(8, 2, 1, 40), (8, 2, 2, 133), (3, 1, 4, 37)])
def test_the_epochs_sd_scripts_prints_after_accelerate_shards_the_loader(tmp_path, gpus, nodes, accumulation, images):
    """After accelerator.prepare each process's loader holds its share of the batches (accelerate's own
    prepare_data_loader, run in sd-scripts' environment); sd-scripts counts `num epochs` from it."""
    python = os.environ.get("KOHYAWIZ_SD_PYTHON")
    if not python:
        pytest.skip("set KOHYAWIZ_SD_PYTHON to sd-scripts' venv python")
    source = (_sd_scripts() / "train_network.py").read_text(encoding="utf-8")
    plan = plan_for(tmp_path, gpus=gpus, nodes=nodes, concepts=[{"name": "hmbrgr", "images": images, "repeats": 2}],
                    overrides={"gradient_accumulation_steps": accumulation})  # fmt: skip
    processes, batches = gpus * nodes, plan.figures.batches_per_epoch
    probe = (
        "import sys\nfrom torch.utils.data import DataLoader\nfrom accelerate.data_loader import prepare_data_loader\n"
        "n, p = int(sys.argv[1]), int(sys.argv[2])\n"
        "loader = DataLoader(list(range(n)), batch_size=1, shuffle=True)\n"
        "print(max(len(prepare_data_loader(loader, num_processes=p, process_index=i, put_on_device=False)) for i in range(p)))\n"
    )  # fmt: skip
    import subprocess

    out = subprocess.run([python, "-c", probe, str(batches), str(processes)], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-1500:]
    shard = int(out.stdout.split()[-1])
    args = SimpleNamespace(max_train_epochs=plan.value("max_train_epochs"), gradient_accumulation_steps=accumulation)
    before = {"math": math, "len": len, "train_dataloader": range(batches), "args": args,
              "accelerator": SimpleNamespace(num_processes=processes)}  # fmt: skip
    args.max_train_steps = eval(compile(ast.Expression(_epochs_to_steps(source)), "train_network.py", "eval"), before)
    after = {"math": math, "len": len, "train_dataloader": range(shard), "args": args}
    after["num_update_steps_per_epoch"] = eval(  # sd-scripts' own lines, parsed above
        compile(ast.Expression(_assigned(source, "num_update_steps_per_epoch")), "train_network.py", "eval"), after
    )
    epochs = eval(compile(ast.Expression(_assigned(source, "num_train_epochs")), "train_network.py", "eval"), after)
    assert (args.max_train_steps, epochs) == (plan.figures.total_steps, plan.figures.epochs)
