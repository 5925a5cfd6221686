"""A fuzz harness over every door: hostile presets, imports, plan folders, dataset configs,
datasets, model headers and records, each run through the command line's own `main`.

Each case must end as success or one line of error (exit 0, 1 or 2): never a traceback, never
the last-resort "kohyawiz bug" line (exit 70), never a hang, and nothing a stranger's file
carried (a credential, an upload, remote logging, a path that leads out) in what is written.

CI runs a couple of hundred cases per door; KOHYAWIZ_FUZZ_SOAK=N runs N per door (thousands for
a soak). The cases that found bugs are kept as regression tests in test_hostile.py.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import signal
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kohyawiz.cli import main

SOAK = int(os.environ.get("KOHYAWIZ_FUZZ_SOAK", "0") or 0)
EXAMPLES = SOAK or 150
HANG_S = 20
FAKE_SD = Path(__file__).resolve().parent / "fake_sd"
DATA = Path(__file__).resolve().parent / "data" / "kohya"
FUZZ = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=not SOAK)

MARKERS = ("hf_SECRET", "/etc/passwd", ".ssh/id_rsa", "/home/stranger", "wandb")
"""Values only a stranger's file holds here."""
HOSTILE_TEXT = st.sampled_from([
    "hf_SECRET", "/etc/passwd", "~/.ssh/id_rsa", "../../../etc", "preset=/home/stranger/x.toml", "wandb", "all",
    "a=b=/home/stranger/c", "C:\\Users\\x", "\\\\server\\share", "$HOME/x", "\x1b]0;owned\x07", "x\x00y", "",
    " ", "nan", "1e400", "1" * 5000, "-1", "0", "10000000000", "true", "[1, 2]", "{a = 1}", "\ud800", "\u202e",
]) | st.text(max_size=24)  # fmt: skip
HOSTILE_NUMBERS = st.sampled_from([0, -1, 7, 10**10, 2**63, -(2**63) - 1, 10**30]) | st.integers(-(2**70), 2**70)
SCALARS = HOSTILE_TEXT | HOSTILE_NUMBERS | st.floats(allow_nan=True, allow_infinity=True) | st.booleans()
VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
    st.sampled_from(["a", "preset", "x"]), inner, max_size=2), max_leaves=6)  # fmt: skip


def _arg_names() -> list[str]:
    from kohyawiz.facts import load_interface

    interface = load_interface(None)
    return sorted(interface.args["train_network.py"])


ARGS = _arg_names()
SENSITIVE = ["huggingface_token", "huggingface_repo_id", "wandb_api_key", "log_with", "output_dir", "logging_dir",
             "network_weights", "base_weights", "sample_prompts", "vae", "resume", "network_args", "output_name",
             "log_tracker_config", "metadata_thumbnail", "save_state_to_huggingface", "async_upload"]  # fmt: skip
KEYS = st.sampled_from(SENSITIVE) | st.sampled_from(ARGS) | st.sampled_from(["bogus", "", "a.b", "model", "epoch"])
SENSITIVE_VALUES = st.sampled_from(["hf_SECRET", "/etc/passwd", "~/.ssh/id_rsa", "/home/stranger/out", "wandb",
                                    "../../..", ["preset=/home/stranger/x.toml"], ["/home/stranger/a=b"], True])  # fmt: skip
ANSWER_KEYS = st.sampled_from(["subject", "vram_gb", "gpus", "network", "optimizer", "precision", "name", "samples",
                               "save_state", "lokr_size", "attention", "with_other_loras", "bogus"])  # fmt: skip


class Hang(BaseException):
    """A case ran past HANG_S."""


@contextlib.contextmanager
def _deadline(seconds: int) -> Iterator[None]:
    def expire(*_: object) -> None:
        raise Hang(f"ran past {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


@contextlib.contextmanager
def _home(folder: Path) -> Iterator[None]:
    """Another person's kohyawiz home for a block (nothing in it was named by them)."""
    old = os.environ.get("KOHYAWIZ_HOME")
    os.environ["KOHYAWIZ_HOME"] = str(folder)
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("KOHYAWIZ_HOME", None)
        else:
            os.environ["KOHYAWIZ_HOME"] = old


def run(*argv: str) -> tuple[int, str, str]:
    """One command through `main`: exit code, stdout, stderr; it must be success or one line."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), _deadline(HANG_S):
        code = main(list(argv))
    text = err.getvalue()
    if code == 70 and " are in " in text:  # show the bug report's traceback
        report = Path(text.split(" are in ", 1)[1].split(": please", 1)[0])
        text += report.read_text() if report.is_file() else ""
    assert code in (0, 1, 2), f"exit {code}: {argv}: {text}"
    assert "Traceback" not in text and "kohyawiz bug" not in text, text
    if code == 2:
        assert len(text.strip().splitlines()) == 1, text
    return code, out.getvalue(), text


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return "nan" if value != value else ("inf" if value > 0 else "-inf") if value in (float("inf"), -float("inf")) else repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{toml_key(k)} = {toml_value(v)}" for k, v in value.items()) + "}"
    return json.dumps(str(value))


def toml_key(key: str) -> str:
    return key if key and all(c.isalnum() or c in "_-" for c in key) else json.dumps(key)


def toml_table(name: str | None, values: dict[str, Any]) -> str:
    head = f"[{name}]\n" if name else ""
    return head + "".join(f"{toml_key(k)} = {toml_value(v)}\n" for k, v in values.items())


def write(path: Path, text: str) -> Path:
    path.write_bytes(text.encode("utf-8", "surrogatepass"))
    return path


def assert_nothing_foreign(folder: Path) -> None:
    """A plan folder written from a stranger's file: no value in any of its files crosses the trust
    boundary (a credential, an upload, remote logging, a path out of the folder)."""
    from kohyawiz.door import read_json, read_toml
    from kohyawiz.trust import foreign_refusals

    tables: list[dict[str, Any]] = []
    config = read_toml(folder / "config.toml", "config")
    tables += [v for v in config.values() if isinstance(v, dict)]
    dataset = read_toml(folder / "dataset.toml", "dataset")
    tables.append({k: v for k, v in dataset.get("general", {}).items()})
    tables += [s for d in dataset.get("datasets", []) for s in d.get("subsets", [])]
    preset = read_toml(folder / "preset.toml", "preset")
    tables += [preset.get("overrides", {}), preset.get("answers", {}).get("network_options", {})]
    plan = read_json(folder / "plan.json", "plan")
    tables.append({d["key"]: d["value"] for d in plan["decisions"] if d.get("scope", "arg") == "arg"})
    tables.append(plan["answers"]["overrides"])
    for table in tables:
        table = {k: v for k, v in table.items() if k != "class_tokens"}  # the person's caption text
        refused = foreign_refusals(table, inside=[folder])
        assert not refused, (refused, table)


PLAN = ("plan", "--family", "sd1", "--subject", "character", "--vram", "12", "--concept", "a=30")


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


def _fresh(scratch: Path, name: str) -> Path:
    folder = scratch / name
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir()
    return folder


@FUZZ
@given(
    answers=st.dictionaries(ANSWER_KEYS, SCALARS.filter(lambda v: not any(m in str(v) for m in MARKERS)), max_size=4),
    inner=st.dictionaries(KEYS, VALUES | SENSITIVE_VALUES, max_size=3),
    overrides=st.dictionaries(KEYS, VALUES | SENSITIVE_VALUES, max_size=3),
    options=st.dictionaries(st.sampled_from(["preset", "conv_dim", "algo"]), VALUES | SENSITIVE_VALUES, max_size=2),
    extends=st.booleans(),
    raw=st.none() | st.text(max_size=200),
)
def test_fuzz_preset_door(scratch, answers, inner, overrides, options, extends, raw):
    folder = _fresh(scratch, "preset")
    text = raw if raw is not None else (
        "schema_version = 1\n" + toml_table("answers", answers) + toml_table("answers.overrides", inner)
        + toml_table("answers.network_options", options) + toml_table("overrides", overrides)
    )  # fmt: skip
    parent = write(folder / "parent.toml", text)
    preset = write(folder / "child.toml", 'schema_version = 1\nextends = "parent.toml"\n') if extends else parent
    code, _, _ = run("plan", "--preset", str(preset), *PLAN[1:], "--out", str(folder / "out"))
    if code == 0:
        assert_nothing_foreign(folder / "out")


@FUZZ
@given(key=KEYS, value=HOSTILE_TEXT, second=st.none() | st.tuples(KEYS, HOSTILE_TEXT))
def test_fuzz_set_door(scratch, key, value, second):
    folder = _fresh(scratch, "set")
    extra = ["--set", f"{second[0]}={second[1]}"] if second else []
    try:
        argv = [*PLAN, "--set", f"{key}={value}", *extra, "--out", str(folder / "out")]
        "".join(argv).encode("utf-8")
    except UnicodeEncodeError:
        return  # a command line cannot hold a lone surrogate
    code, _, _ = run(*argv)
    if code == 0:  # the person's own --set reaches the plan; the shareable preset keeps only what may be shared
        from kohyawiz.door import read_toml
        from kohyawiz.trust import foreign_refusals

        assert not foreign_refusals(read_toml(folder / "out" / "preset.toml", "preset").get("overrides", {}))


GUI_BASES = sorted(p.name for p in DATA.glob("*.json"))


@FUZZ
@given(
    base=st.sampled_from([*GUI_BASES, "config.toml"]),
    changes=st.dictionaries(KEYS | st.sampled_from(["LoRA_type", "LyCORIS_preset", "epoch", "max_resolution",
                                                    "additional_parameters"]), VALUES | SENSITIVE_VALUES, max_size=5),
)  # fmt: skip
def test_fuzz_import_door(scratch, base, changes):
    folder = _fresh(scratch, "import")
    if base.endswith(".json"):
        data = json.loads((DATA / base).read_text()) | changes
        source = write(folder / "gui.json", json.dumps(data, allow_nan=True))
    else:
        data = {"network_module": "networks.lora", "network_dim": 8} | changes
        source = write(folder / "config.toml", toml_table(None, data))
    out = folder / "imported.toml"
    code, _, _ = run("import", str(source), "--out", str(out))
    if code == 0:
        from kohyawiz.door import read_toml
        from kohyawiz.trust import foreign_refusals

        written = read_toml(out, "preset")
        assert not foreign_refusals(written.get("overrides", {})), written
        assert not foreign_refusals(written.get("answers", {}).get("network_options", {})), written
        run("plan", "--preset", str(out), "--vram", "12", "--concept", "a=30", "--out", str(folder / "plan"))


@pytest.fixture(scope="module")
def plan_folder(scratch: Path) -> Path:
    folder = scratch / "original"
    code, _, err = run(*PLAN, "--samples", "--out", str(folder))
    assert code == 0, err
    return folder


@FUZZ
@given(
    config=st.dictionaries(KEYS, VALUES | SENSITIVE_VALUES, max_size=3),
    plan_changes=st.dictionaries(st.sampled_from(["script", "accelerate_args", "script_args", "answers", "decisions",
                                                  "sd_scripts_version", "findings", "figures", "bogus"]),
                                 VALUES, max_size=2),
    dataset=st.none() | st.dictionaries(st.sampled_from(["image_dir", "num_repeats", "resolution", "batch_size"]),
                                        VALUES | SENSITIVE_VALUES, max_size=2),
    raw_plan=st.none() | st.text(max_size=80),
)  # fmt: skip
def test_fuzz_plan_folder_doors(scratch, plan_folder, config, plan_changes, dataset, raw_plan):
    folder = _fresh(scratch, "shared")
    shutil.rmtree(folder)
    shutil.copytree(plan_folder, folder)
    config_path = folder / "config.toml"
    write(config_path, config_path.read_text() + "\n" + toml_table("stranger", config))
    plan = json.loads((folder / "plan.json").read_text())
    write(folder / "plan.json", raw_plan if raw_plan is not None else json.dumps(plan | plan_changes, allow_nan=True))
    if dataset is not None:
        write(folder / "dataset.toml", (folder / "dataset.toml").read_text() + "\n[[datasets]]\n[[datasets.subsets]]\n"
              + toml_table(None, dataset))  # fmt: skip
    with _home(scratch / "stranger-home"):  # nothing of this folder was named by this person
        code, out, _ = run("train", str(folder), "--dry-run", "--sd-scripts", str(FAKE_SD))
        sent = {k for k, v in config.items() if k in SENSITIVE and v not in (None, False, "", [], 0)}
        if code == 0 and sent:
            from kohyawiz.trust import foreign_refusals

            assert not foreign_refusals({k: config[k] for k in sent}, inside=[folder]), (config, out)
        run("explain", str(folder))
        code, _, _ = run("export", str(folder), "--kohya-gui", str(scratch / "gui.json"))
        if code == 0:
            from kohyawiz.trust import foreign_refusals

            gui = json.loads((scratch / "gui.json").read_text())
            assert not foreign_refusals(gui, inside=[folder]), gui
        run("diff", str(folder), str(plan_folder))
        run("check", str(folder / "config.toml"))
        run("check", str(folder / "dataset.toml"))


NAMES = st.sampled_from(["10_x", "1_a, b", "0_x", "-1_x", "99999999999999999999_x", "x", "_x", "1_", "1_\x1b[31m",
                         "raw", "1_\u202eevil"])  # fmt: skip
FILES = st.sampled_from(["a.png", "a.txt", "b.jpg", "b.caption", ".hidden.png", "c.webp", "d.PNG", "e\x1b[2J.png",
                         "e\x1b[2J.txt", "f.gif", "g.txt"])  # fmt: skip
CONTENTS = st.sampled_from(["png", "png-cut", "bytes", "empty", "text", "link-out", "link-loop", "huge-header"])


def _content(path: Path, kind: str, secret: Path) -> None:
    from kohyawiz.demo import png_bytes

    if kind == "link-out":
        path.symlink_to(secret)
    elif kind == "link-loop":
        path.symlink_to(path)
    elif kind == "png":
        path.write_bytes(png_bytes(64, 64, 3))
    elif kind == "png-cut":
        path.write_bytes(png_bytes(64, 64, 3)[:40])
    elif kind == "huge-header":
        path.write_bytes(b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + b"IHDR" + struct.pack(">II", 2**31 - 1, 2**31 - 1)
                         + b"\x08\x02\x00\x00\x00" + b"\x00" * 4)  # fmt: skip
    elif kind == "bytes":
        path.write_bytes(os.urandom(64))
    elif kind == "text":
        path.write_text("tag, \x1b]0;owned\x07, tag\n")
    else:
        path.write_bytes(b"")


@FUZZ
@given(layout=st.lists(st.tuples(NAMES, FILES, CONTENTS), min_size=1, max_size=6),
       setting=st.tuples(st.sampled_from(["caption_extension", "resolution", "min_bucket_reso", "keep_tokens",
                                          "max_train_epochs", "train_batch_size", "enable_bucket"]),
                         HOSTILE_TEXT | st.sampled_from(["txt", ".caption", "_x.txt", "1024,512"])))  # fmt: skip
def test_fuzz_dataset_doors(scratch, layout, setting):
    root = _fresh(scratch, "dataset")
    secret = scratch / "secret.txt"
    secret.write_text("SECRET-BEHIND-A-LINK\n")
    train = root / "train"
    train.mkdir()
    for folder_name, file_name, kind in layout:
        folder = train / folder_name
        folder.mkdir(exist_ok=True)
        path = folder / file_name
        if not (path.exists() or path.is_symlink()):
            _content(path, kind, secret)
    outputs = []
    if any(ord(c) >= 0xD800 and ord(c) < 0xE000 for c in setting[1]):
        setting = (setting[0], "x")  # a command line cannot hold a lone surrogate
    for argv in (("check", str(train)), ("check", str(train), "--json"), ("tags", str(train)),
                 ("tags", str(train), "--write"),
                 ("plan", *PLAN[1:-2], "--dataset", str(train), "--out", str(root / "plan")),
                 ("plan", *PLAN[1:-2], "--dataset", str(train), "--force", "--set", "=".join(setting),
                  "--out", str(root / "plan2"))):  # fmt: skip
        _, out, err = run(*argv)
        outputs.append(out + err)
    first = train / layout[0][0]
    if first.is_dir():
        _, out, err = run("prepare", str(first), "--into", str(root / "prepared" / "1_x"))
        outputs.append(out + err)
        for written in (root / "prepared").rglob("*"):
            if written.is_file():
                assert b"SECRET-BEHIND" not in written.read_bytes()
    for text in outputs:
        assert "SECRET-BEHIND" not in text and "\x1b" not in text, text
    assert secret.read_text() == "SECRET-BEHIND-A-LINK\n"


@FUZZ
@given(header=st.dictionaries(st.sampled_from(["__metadata__", "a.weight", "model.diffusion_model.x", "bogus"]),
                              VALUES, max_size=3) | st.text(max_size=60).map(lambda t: {"raw": t}))  # fmt: skip
def test_fuzz_model_header_door(scratch, header):
    folder = _fresh(scratch, "model")
    raw = header.pop("raw", None) if "raw" in header and len(header) == 1 else None
    body = (raw if isinstance(raw, str) else json.dumps(header, allow_nan=True)).encode("utf-8", "surrogatepass")
    path = folder / "m.safetensors"
    path.write_bytes(struct.pack("<Q", len(body)) + body)
    run("inspect", str(path))
    run("plan", *PLAN[1:], "--model", str(path), "--out", str(folder / "plan"))


@FUZZ
@given(
    queue=VALUES | st.lists(st.dictionaries(st.sampled_from(["id", "plan_dir", "status", "added", "run", "x"]),
                                            VALUES, max_size=5), max_size=3),
    outcome=VALUES,
    events=st.lists(VALUES, max_size=4),
)  # fmt: skip
def test_fuzz_record_doors(scratch, queue, outcome, events):
    home = _fresh(scratch, "home")
    record = home / "runs" / "20260101-000000-x"
    record.mkdir(parents=True)
    write(home / "queue.json", json.dumps(queue, allow_nan=True))
    write(record / "outcome.json", json.dumps(outcome, allow_nan=True))
    write(record / "events.jsonl", "\n".join(json.dumps(e, allow_nan=True) for e in events))
    with _home(home):
        run("runs")
        run("runs", "show", "x")
        run("runs", "show", "x", "--json")
        run("queue", "list")
