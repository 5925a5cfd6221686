"""Reading training folders and image headers (D-FOLDER, D-FORMAT)."""

from __future__ import annotations

import struct

import pytest
from conftest import make_folder

from kohyawiz.dataset.images import ImageHeaderError, image_size
from kohyawiz.dataset.scan import parse_folder_name, scan_training_dir
from kohyawiz.demo import png_bytes
from kohyawiz.facts import resolve_version

EXTENSIONS = resolve_version(None).image_extensions


def test_D_FOLDER_names():
    assert parse_folder_name("10_sks woman") == (10, "sks woman")
    assert parse_folder_name("5_my_char") == (5, "my_char")
    assert parse_folder_name("raw") is None
    for bad in ("x_name", "0_name", "-1_name", "3_"):
        with pytest.raises(ValueError):
            parse_folder_name(bad)


def test_D_FOLDER_scan_reports_and_ignores(tmp_path):
    make_folder(tmp_path, "2_hmbrgr", [(640, 480)] * 3, "hmbrgr")
    make_folder(tmp_path, "raw", [(640, 480)])
    make_folder(tmp_path, "0_skip", [(640, 480)])
    scan = scan_training_dir(tmp_path, EXTENSIONS)
    assert [(c.name, c.repeats, len(c.images)) for c in scan.concepts] == [("hmbrgr", 2, 3)]
    assert {f.level for f in scan.findings if f.rule == "D-FOLDER"} == {"info", "error"}
    assert scan.concepts[0].known_sizes() == [(640, 480)] * 3


def test_D_FORMAT_sd_scripts_extensions_only(tmp_path):
    folder = make_folder(tmp_path, "1_a", [(64, 64)])
    (folder / "pic.gif").write_bytes(b"GIF89a")
    (folder / "pic.Png").write_bytes(png_bytes(8, 8))  # sd-scripts' glob is case-sensitive
    (folder / ".hidden.png").write_bytes(png_bytes(8, 8))
    scan = scan_training_dir(tmp_path, EXTENSIONS)
    concept = scan.concepts[0]
    assert [p.name for p in concept.images] == ["img000.png"]
    assert {p.name for p in concept.skipped} == {"pic.gif", "pic.Png", ".hidden.png"}


def _jpeg(width: int, height: int) -> bytes:
    app0 = b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\x00" + b"\x00" * 9
    sof = b"\xff\xc0" + struct.pack(">HBHHB", 11, 8, height, width, 1) + b"\x01\x11\x00"
    return b"\xff\xd8" + app0 + sof + b"\xff\xd9"


def test_headers_of_every_format(tmp_path):
    cases = {
        "a.png": (png_bytes(33, 17), (33, 17)),
        "b.jpg": (_jpeg(1200, 800), (1200, 800)),
        "c.webp": (
            b"RIFF" + b"\0" * 4 + b"WEBPVP8X" + b"\0" * 8 + (639).to_bytes(3, "little") + (479).to_bytes(3, "little"),
            (640, 480),
        ),
        "d.bmp": (b"BM" + b"\0" * 12 + struct.pack("<Iii", 40, 300, -200) + b"\0" * 8, (300, 200)),
    }
    for name, (data, size) in cases.items():
        (tmp_path / name).write_bytes(data)
        assert image_size(tmp_path / name) == size, name


@pytest.mark.parametrize("data", [b"", b"\x89PNG\r\n\x1a\n\0\0", b"\xff\xd8\xff\xe0\x00", b"not an image at all"])
def test_broken_headers_are_errors_not_crashes(tmp_path, data):
    path = tmp_path / "x.png"
    path.write_bytes(data)
    with pytest.raises(ImageHeaderError):
        image_size(path)


def test_headers_behind_large_metadata_are_still_read(tmp_path):
    """The first read is small; a PNG's tRNS behind 20 KB of text chunks and a JPEG's frame header
    behind a 30 KB EXIF segment are read on to, with Pillow agreeing."""
    import zlib

    from PIL import Image

    from kohyawiz.dataset.images import read_header

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", 40, 30, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"".join(b"\x00" + b"\x10\x20\x30" * 40 for _ in range(30)))
    text = chunk(b"tEXt", b"Comment\x00" + b"x" * 20_000)
    png = tmp_path / "late-trns.png"
    png.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + text + chunk(b"tRNS", b"\x00\x10\x00\x20\x00\x30")
                    + chunk(b"IDAT", pixels) + chunk(b"IEND", b""))  # fmt: skip
    assert read_header(png) == ((40, 30), True)
    with Image.open(png) as image:
        assert image.size == (40, 30) and "transparency" in image.info

    plain = tmp_path / "plain.jpg"
    Image.new("RGB", (48, 36)).save(plain, "JPEG")
    data = plain.read_bytes()
    app1 = b"\xff\xe1" + struct.pack(">H", 30_002) + b"Exif\x00\x00" + b"\x00" * 29_994
    late = tmp_path / "late-sof.jpg"
    late.write_bytes(data[:2] + app1 + data[2:])
    assert read_header(late) == ((48, 36), False)
    with Image.open(late) as image:
        assert image.size == (48, 36)
