"""The planning path stays light and the core stays pure."""

from __future__ import annotations

import ast
import subprocess
import sys

from conftest import REPO

HEAVY = ("torch", "textual", "PIL", "lycoris")
CORE = [
    "answers.py", "plan.py", "emit.py", "buckets.py", "facts.py", "networks.py", "presets.py",
    "assemble.py", "tomlwrite.py", "demo.py", "sdpaths.py", "rules", "dataset", "constraints", "memory",
]  # fmt: skip
FORBIDDEN_IN_CORE = {"subprocess", "textual", "torch", "rich", "lycoris", "PIL", "multiprocessing"}


def _loaded_after(code: str) -> set[str]:
    out = subprocess.run(
        [sys.executable, "-c", f"{code}\nimport sys\nprint(' '.join(sys.modules))"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return set(out.stdout.split())


def test_help_and_cli_import_load_no_heavy_modules() -> None:
    help_run = subprocess.run(
        [sys.executable, "-c", "import sys, runpy; sys.argv=['kohyawiz','--help']\n"
         "try:\n    runpy.run_module('kohyawiz', run_name='__main__')\nexcept SystemExit:\n    pass\n"
         "print('MODULES', ' '.join(sys.modules))"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert "usage: kohyawiz" in help_run.stdout
    loaded = set(help_run.stdout.split("MODULES", 1)[1].split())
    assert not loaded & set(HEAVY)
    assert not _loaded_after("import kohyawiz.cli") & set(HEAVY)


def test_planning_a_run_loads_no_heavy_modules() -> None:
    loaded = _loaded_after(
        "from kohyawiz.cli import main\n"
        "import tempfile\n"
        "d = tempfile.mkdtemp()\n"
        "main(['plan', '--family', 'sd1', '--subject', 'style', '--vram', '8', '--concept', 'x=60', '--out', d])"
    )
    assert not loaded & set(HEAVY)


def _imports(path, top_level_only: bool = False) -> set[str]:
    tree = ast.parse(path.read_text())
    names = set()
    for node in tree.body if top_level_only else ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_core_modules_import_no_ui_process_or_torch() -> None:
    package = REPO / "kohyawiz"
    files = []
    for entry in CORE:
        target = package / entry
        files += sorted(target.rglob("*.py")) if target.is_dir() else [target]
    assert len(files) > 10
    for path in files:
        # Pillow may be imported inside the few functions that need pixels, never at module level.
        bad = (_imports(path) & (FORBIDDEN_IN_CORE - {"PIL"})) | (_imports(path, top_level_only=True) & {"PIL"})
        assert not bad, f"{path.relative_to(REPO)} imports {bad}"
        text = path.read_text()
        assert "kohyawiz.cli" not in text and "kohyawiz.tui" not in text, f"{path} reaches into a face"


def test_one_module_runs_processes() -> None:
    package = REPO / "kohyawiz"
    runners = [p for p in package.rglob("*.py") if "subprocess" in _imports(p)]
    assert [p.relative_to(package).as_posix() for p in runners] == ["run/process.py"]


def test_no_face_imports_another_face() -> None:
    package = REPO / "kohyawiz"
    for face, other in (("tui", "kohyawiz.cli"), ("cli", "kohyawiz.tui.steps")):
        for path in (package / face).rglob("*.py"):
            assert other not in path.read_text(), f"{path.relative_to(REPO)} imports {other}"


def test_one_module_per_wizard_step() -> None:
    from kohyawiz.tui.steps import STEP_CLASSES

    modules = {cls.__module__ for cls in STEP_CLASSES}
    assert len(modules) == len(STEP_CLASSES)
    app = (REPO / "kohyawiz" / "tui" / "app.py").read_text()
    assert "class " not in app.split("class Wizard")[0].split("KEYS_HELP")[1]  # no step lives in app.py


def test_the_layer_contract_holds_lazy_imports_included() -> None:
    """pyproject.toml's import-linter contracts: the layers, no cycle, a pydantic-free vocabulary."""
    result = subprocess.run(
        [sys.executable, "-c", "import sys; from importlinter.cli import lint_imports_command; sys.exit(lint_imports_command())"],
        capture_output=True, text=True, cwd=REPO,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Contracts: 4 kept, 0 broken." in result.stdout


def test_no_module_imports_itself_back_through_others() -> None:
    """No cycle between single modules either (grimp reads imports inside functions too)."""
    import grimp

    graph = grimp.build_graph("kohyawiz")
    cycles = []
    for module in sorted(graph.modules):
        for imported in graph.find_modules_directly_imported_by(module):
            if graph.find_shortest_chain(importer=imported, imported=module):
                cycles.append(f"{module} -> {imported}")
    assert not cycles, cycles


def test_the_vocabulary_imports_without_pydantic_or_the_rule_engine() -> None:
    loaded = _loaded_after("import kohyawiz.decisions, kohyawiz.values, kohyawiz.files, kohyawiz.dataset.scan")
    assert "pydantic" not in loaded
    assert not {m for m in loaded if m.startswith(("kohyawiz.rules", "kohyawiz.plan", "kohyawiz.emit"))}
    records = _loaded_after("import kohyawiz.run.records.record")
    assert len([m for m in records if m.startswith("kohyawiz")]) < 10, sorted(records)


def test_the_readme_layout_lists_every_package_and_top_level_module() -> None:
    readme = (REPO / "README.md").read_text()
    layout = readme.split("## Layout", 1)[1].split("\n## ", 1)[0]
    package = REPO / "kohyawiz"
    names = [f"kohyawiz/{p.name}" for p in package.glob("*.py")]
    names += [f"kohyawiz/{p.name}/" for p in package.iterdir() if (p / "__init__.py").is_file()]
    missing = [name for name in sorted(names) if f"`{name}`" not in layout]
    assert not missing, f"README.md's layout table lacks {missing}"


def test_refusing_a_dataset_config_loads_no_check_it_does_not_run(tmp_path) -> None:
    """`kohyawiz check dataset.toml` with an unknown key stops where sd-scripts stops: before any
    folder is read, and without loading the dataset doctor or pydantic."""
    bad = tmp_path / "dataset.toml"
    bad.write_text(f'[[datasets]]\n[[datasets.subsets]]\nimage_dir = "{tmp_path}"\nfoo = 1\n')
    run = subprocess.run(
        [sys.executable, "-c", "import sys\nfrom kohyawiz.cli import main\ncode = main(['check', sys.argv[1]])\n"
         "print('MODULES', ' '.join(sys.modules)); sys.exit(code)", str(bad)],
        capture_output=True, text=True,
    )  # fmt: skip
    assert run.returncode == 1, run.stderr
    report, modules = run.stdout.split("MODULES")
    assert "foo is not allowed there" in report and "the image folders are checked once" in report
    loaded = set(modules.split())
    assert not loaded & {"kohyawiz.dataset.doctor", "kohyawiz.dataset.scan", "pydantic", "kohyawiz.plan"}


def test_run_is_split_by_job_and_the_old_paths_answer_for_the_session() -> None:
    import importlib

    from kohyawiz.run import MOVED

    package = REPO / "kohyawiz" / "run"
    assert {p.name for p in (package / "sdscripts").glob("*.py")} >= {"locate.py", "install.py", "learn.py", "sd_probe.py"}
    assert {p.name for p in (package / "records").glob("*.py")} >= {"record.py", "history.py", "ledger.py", "plot.py"}
    for old, new in MOVED.items():
        assert not (REPO / (old.replace(".", "/") + ".py")).exists()
        assert importlib.import_module(old) is importlib.import_module(new)
    from kohyawiz.run.records import RunRecord
    from kohyawiz.run.records.record import RunRecord as moved

    assert RunRecord is moved
