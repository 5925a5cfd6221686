"""The dataset doctor finds every planted fault with its rule id, and nothing on clean files."""

from __future__ import annotations

import hashlib
import json
import os
import struct
import subprocess
import sys
import zlib
from pathlib import Path

from conftest import make_folder

from kohyawiz.dataset.doctor import CheckOptions, check_dataset
from kohyawiz.dataset.scan import scan_training_dir
from kohyawiz.dataset.tags import implied_pairs, load_implications
from kohyawiz.demo import png_bytes
from kohyawiz.facts import resolve_version

EXT = resolve_version(None).image_extensions


def rgba_png(width: int, height: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    raw = (b"\x00" + b"\xff\x00\x00\x80" * width) * height
    header = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


def findings_for(root, **options):
    return check_dataset(scan_training_dir(root, EXT), CheckOptions(**options))


def by_file(findings):
    return {(f.rule, (f.path or "").rsplit("/", 1)[-1]) for f in findings}


def test_clean_dataset_has_no_warnings(tmp_path):
    make_folder(tmp_path, "1_hmbrgr", [(768, 768)] * 30, "hmbrgr, food, plate, white background")
    findings = findings_for(tmp_path)
    assert [f for f in findings if f.level != "info"] == []


def test_planted_faults_each_with_their_rule(tmp_path):
    folder = make_folder(tmp_path, "1_hmbrgr", [(768, 768)] * 20, "hmbrgr, food")
    (folder / "alpha.png").write_bytes(rgba_png(800, 800))  # D-ALPHA
    (folder / "alpha.txt").write_text("hmbrgr, food")
    (folder / "huge.png").write_bytes(png_bytes(3500, 1000))  # D-HUGE
    (folder / "huge.txt").write_text("hmbrgr")
    (folder / "tiny.png").write_bytes(png_bytes(300, 200))  # D-SMALL
    (folder / "tiny.txt").write_text("hmbrgr")
    (folder / "nocap.png").write_bytes(png_bytes(768, 770 + 3))  # D-CAPTION: missing
    (folder / "wrongfirst.png").write_bytes(png_bytes(768, 770 + 4))
    (folder / "wrongfirst.txt").write_text("food, hmbrgr")  # D-CAPTION: first tag
    (folder / "empty.png").write_bytes(png_bytes(768, 770 + 5))
    (folder / "empty.txt").write_text("  \n")  # D-TAGS: empty (sd-scripts stops)
    (folder / "dupe.png").write_bytes(png_bytes(768, 770 + 6))
    (folder / "dupe.txt").write_text("hmbrgr, food, food")  # D-TAGS: duplicate
    (folder / "many.png").write_bytes(png_bytes(768, 770 + 7))
    (folder / "many.txt").write_text("hmbrgr, " + ", ".join(f"t{i}" for i in range(30)))
    (folder / "implied.png").write_bytes(png_bytes(768, 770 + 8))
    (folder / "implied.txt").write_text("hmbrgr, german shepherd, dog")  # D-IMPLIED
    (folder / "orphan.txt").write_text("hmbrgr")  # D-CAPTION: orphan
    (folder / "latin1.png").write_bytes(png_bytes(768, 770 + 9))
    (folder / "latin1.txt").write_bytes("hmbrgr, caf\xe9".encode("latin-1"))  # not UTF-8
    (folder / "copy.png").write_bytes((folder / "img000.png").read_bytes())  # duplicate content
    (folder / "copy.txt").write_text("hmbrgr")
    (folder / "img001.jpg").write_bytes((folder / "img001.png").read_bytes())  # same stem
    (folder / "anim.gif").write_bytes(b"GIF89a" + b"\0" * 10)  # D-FORMAT: skipped
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n")  # D-FORMAT: unreadable
    (folder / "x.caption").write_text("hmbrgr")  # wrong caption extension
    make_folder(tmp_path, "x_bad", [(768, 768)])  # D-FOLDER
    make_folder(tmp_path, "raw", [(768, 768)])  # D-RAW note
    found = by_file(findings_for(tmp_path))
    expected = {
        ("D-ALPHA", "alpha.png"), ("D-HUGE", "huge.png"), ("D-SMALL", "tiny.png"),
        ("D-CAPTION", "nocap.png"), ("D-CAPTION", "wrongfirst.txt"), ("D-TAGS", "empty.txt"),
        ("D-TAGS", "dupe.txt"), ("D-IMPLIED", "implied.txt"), ("D-CAPTION", "orphan.txt"),
        ("D-CAPTION", "latin1.txt"), ("D-FORMAT", "anim.gif"), ("D-FORMAT", "broken.png"),
        ("D-CAPTION", "x.caption"), ("D-RAW", "raw"), ("D-FORMAT", "img001.jpg"), ("D-CAPTION", "img001.jpg"),
    }  # fmt: skip
    assert expected <= found, expected - found
    assert any(rule == "D-FORMAT" and name in ("img000.png", "copy.png") for rule, name in found)
    assert any(rule == "D-FOLDER" for rule, _ in found)
    assert not {f for f in found if f[1] == "1_hmbrgr"}  # the folder itself has no finding; its files do
    clean = {f"img{i:03d}.png" for i in range(2, 20)} | {f"img{i:03d}.txt" for i in range(2, 20)}
    assert not {name for _, name in found} & clean, sorted(f for f in found if f[1] in clean)


def test_D_TAGS_average_over_20(tmp_path):
    make_folder(tmp_path, "1_x", [(768, 768)] * 10, "x, " + ", ".join(f"t{i}" for i in range(25)))
    assert ("D-TAGS", "1_x") in by_file(findings_for(tmp_path))


def test_D_TAGSTYLE_sentences_on_a_booru_model(tmp_path):
    make_folder(tmp_path, "1_x", [(768, 768)] * 10, "x, a brown dog sleeping at night on the porch")
    assert ("D-TAGSTYLE", "1_x") in by_file(findings_for(tmp_path, tags="booru"))
    assert ("D-TAGSTYLE", "1_x") not in by_file(findings_for(tmp_path, tags="natural"))


def test_D_CAPTION_multi_concept_outfits_need_both_tags(tmp_path):
    make_folder(tmp_path, "1_char, red", [(768, 768)] * 10, "char, red, smile")
    make_folder(tmp_path, "2_char, blue", [(768, 768)] * 10, "char, smile")
    found = by_file(findings_for(tmp_path))
    assert ("D-CAPTION", "img000.txt") in found
    assert sum(1 for r, _ in found if r == "D-CAPTION") == 10


def test_D_COUNT_in_the_doctor(tmp_path):
    make_folder(tmp_path, "1_x", [(768, 768)] * 5, "x")
    assert any(f.rule == "D-COUNT" for f in findings_for(tmp_path))


def test_D_IMPLIED_csv_and_chains(tmp_path):
    csv = tmp_path / "imp.csv"
    csv.write_text("antecedent,consequent\nhusky,dog\ndog,canine\n")
    table = load_implications(csv)
    assert set(implied_pairs(["husky", "canine", "smile"], table)) == {("husky", "canine")}


def test_D_RAW_the_doctor_changes_nothing(tmp_path):
    folder = make_folder(tmp_path, "1_x", [(768, 768), (4000, 100)] * 3, "x")
    before = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.iterdir()}
    findings_for(tmp_path)
    after = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.iterdir()}
    assert before == after


def test_check_command_json_and_exit_codes(tmp_path):
    make_folder(tmp_path / "ok", "1_x", [(768, 768)] * 30, "x, smile")
    run = subprocess.run(
        [sys.executable, "-m", "kohyawiz", "check", str(tmp_path / "ok"), "--json"], capture_output=True, text=True
    )
    assert run.returncode == 0 and json.loads(run.stdout) == []
    bad = make_folder(tmp_path / "bad", "1_x", [(768, 768)] * 30, "x")
    (bad / "img000.txt").write_text("")
    run = subprocess.run(
        [sys.executable, "-m", "kohyawiz", "check", str(tmp_path / "bad")], capture_output=True, text=True
    )
    assert run.returncode == 1 and "[D-TAGS]" in run.stdout and "1 errors" in run.stdout


def test_check_a_dataset_toml(tmp_path):
    from conftest import plan_for

    from kohyawiz.emit import write_plan

    folder = make_folder(tmp_path / "data", "3_x", [(768, 768)] * 20, "x, smile")
    (folder / "img000.txt").write_text("")
    plan = plan_for(tmp_path, concepts=[{"name": "x", "images": 20, "folder": str(folder)}])
    write_plan(plan)
    run = subprocess.run(
        [sys.executable, "-m", "kohyawiz", "check", str(plan.out_dir / "dataset.toml"), "--json"],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 1, run.stderr
    assert [f["rule"] for f in json.loads(run.stdout) if f["level"] == "error"] == ["D-TAGS"]


def test_D_ALPHA_opaque_alpha_channels_are_clean(tmp_path):
    import io

    from PIL import Image

    folder = make_folder(tmp_path, "1_x", [(768, 768)] * 20, "x, smile")
    buffer = io.BytesIO()
    Image.new("RGBA", (768, 768), (10, 20, 30, 255)).save(buffer, format="PNG")
    (folder / "opaque.png").write_bytes(buffer.getvalue())
    (folder / "opaque.txt").write_text("x, smile")
    (folder / "seethrough.png").write_bytes(rgba_png(768, 768))
    (folder / "seethrough.txt").write_text("x, smile")
    found = by_file(findings_for(tmp_path))
    assert ("D-ALPHA", "seethrough.png") in found and ("D-ALPHA", "opaque.png") not in found


def test_D_ASYM_and_D_SMALL_follow_the_options(tmp_path):
    make_folder(tmp_path, "1_x", [(600, 600)] * 20, "x, smile")
    assert not any(f.rule == "D-SMALL" for f in findings_for(tmp_path))  # 512 by default
    assert any(f.rule == "D-SMALL" for f in findings_for(tmp_path, resolution=768))
    assert any(f.rule == "D-ASYM" for f in findings_for(tmp_path, asymmetric=True))


def _cut(path, keep: int) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - keep])


def test_D_FORMAT_cut_images_are_found_without_decoding(tmp_path):
    import struct

    from PIL import Image

    from kohyawiz.dataset.images import truncation

    folder = tmp_path / "train" / "1_cut"
    folder.mkdir(parents=True)
    for name, fmt in (("a.png", "PNG"), ("b.jpg", "JPEG"), ("c.webp", "WEBP"), ("d.bmp", "BMP"), ("ok.png", "PNG")):
        Image.new("RGB", (600, 600), (120, 30, 200)).save(folder / name, fmt)
        (folder / name).with_suffix(".txt").write_text("cut, tag")
    assert all(truncation(folder / n) is None for n in ("a.png", "b.jpg", "c.webp", "d.bmp"))
    for name in ("a.png", "b.jpg", "c.webp", "d.bmp"):
        _cut(folder / name, 40)
    assert "IEND" in truncation(folder / "a.png") and "end-of-image" in truncation(folder / "b.jpg")
    assert "declares" in truncation(folder / "c.webp") and "declares" in truncation(folder / "d.bmp")
    header = (folder / "ok.png").read_bytes()
    assert struct.unpack(">I", header[16:20])[0] == 600
    from kohyawiz.dataset.doctor import CheckOptions, check_dataset
    from kohyawiz.dataset.scan import scan_training_dir

    findings = check_dataset(scan_training_dir(tmp_path / "train", (".png", ".jpg", ".webp", ".bmp")), CheckOptions())
    cut = {Path(f.path).name for f in findings if f.rule == "D-FORMAT" and f.level == "error" and "cut short" in f.message}
    assert cut == {"a.png", "b.jpg", "c.webp", "d.bmp"}


def test_D_TAGS_captions_longer_than_the_text_encoder_reads(tmp_path, monkeypatch):
    from kohyawiz.dataset import tokens
    from kohyawiz.dataset.doctor import CheckOptions, check_dataset
    from kohyawiz.dataset.scan import scan_training_dir

    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "no-cache"))
    tokens._counter.cache_clear()
    folder = tmp_path / "train" / "1_long"
    make_folder(tmp_path / "train", "1_long", [(768, 768)] * 2, "long, " + ", ".join(f"tag number {i}" for i in range(40)))
    (folder / "img001.txt").write_text("long, short caption")
    findings = check_dataset(scan_training_dir(tmp_path / "train", (".png",)), CheckOptions())
    long = [f for f in findings if f.rule == "D-TAGS" and "tokens" in f.message]
    assert len(long) == 1 and "estimated" in long[0].message and "75" in long[0].message
    assert Path(long[0].path).name == "img000.txt"
    roomy = check_dataset(scan_training_dir(tmp_path / "train", (".png",)), CheckOptions(max_tokens=225))
    assert not [f for f in roomy if "tokens" in f.message]
    tokens._counter.cache_clear()


def test_the_hub_cache_is_found_where_huggingface_hub_looks(tmp_path, monkeypatch):
    from kohyawiz.dataset.tokens import hub_cache_dir

    for name in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "HF_HOME", "XDG_CACHE_HOME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert hub_cache_dir() == tmp_path / ".cache" / "huggingface" / "hub"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert hub_cache_dir() == tmp_path / "xdg" / "huggingface" / "hub"
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    assert hub_cache_dir() == tmp_path / "hf" / "hub"
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    assert hub_cache_dir() == tmp_path / "hub"


def test_D_TAGS_counts_with_clips_merges_from_the_hub_cache(tmp_path, monkeypatch):
    from kohyawiz.dataset import tokens

    repo = tmp_path / "hub" / "models--openai--clip-vit-large-patch14"
    snapshot = repo / "snapshots" / "abc123"
    snapshot.mkdir(parents=True)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("abc123")
    (snapshot / "merges.txt").write_text("#version: 0.2\nc a\nca t</w>\nd o\ndo g</w>\n")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    import importlib

    import huggingface_hub.constants

    importlib.reload(huggingface_hub.constants)
    tokens._counter.cache_clear()
    try:
        assert tokens.clip_merges_file() == snapshot / "merges.txt"
        from huggingface_hub import try_to_load_from_cache  # the same file huggingface-hub's own lookup finds

        assert try_to_load_from_cache(tokens.CLIP_REPO, "merges.txt") == str(snapshot / "merges.txt")
        assert tokens.count_tokens("cat, dog") == (3, True)  # cat | , | dog
        assert tokens.count_tokens("cats")[0] == 3  # ca t s</w>: no merge makes 'ts</w>'
    finally:
        monkeypatch.undo()
        importlib.reload(huggingface_hub.constants)
        tokens._counter.cache_clear()


def test_duplicates_by_size_then_both_ends_then_the_whole_file(tmp_path, monkeypatch):
    """D-FORMAT duplicates: equal sizes, then a hash of both ends, and a whole hash only for the
    files that still agree (one that differs only in its middle is no duplicate)."""
    from kohyawiz.dataset import doctor

    head, middle, tail = b"\x89PNG" + os.urandom(40_000), os.urandom(40_000), os.urandom(40_000)
    files = {
        "a.png": head + middle + tail,
        "b.png": head + middle + tail,  # a's copy
        "c.png": head + os.urandom(40_000) + tail,  # a's size and ends, another middle
        "d.png": os.urandom(120_004),  # a's size, other ends
        "e.png": os.urandom(1000),  # a size of its own: never read
        "f.png": b"small" * 100,  # small files are hashed whole at once
        "g.png": b"small" * 100,
    }
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    read: list[tuple[str, bool]] = []
    real_digest = doctor._digest

    def spy(path, partial):
        read.append((path.name, partial))
        return real_digest(path, partial)

    monkeypatch.setattr(doctor, "_digest", spy)
    findings = doctor._duplicates([tmp_path / name for name in sorted(files)])
    assert sorted(f.message for f in findings) == [
        "the same image appears 2 times: a.png, b.png",
        "the same image appears 2 times: f.png, g.png",
    ]
    assert sorted(name for name, partial in read if partial) == ["a.png", "b.png", "c.png", "d.png"]
    assert sorted(name for name, partial in read if not partial) == ["a.png", "b.png", "c.png", "f.png", "g.png"]
