"""Image sizes from file headers, without decoding pixels (and without Pillow).

The sizes are the stored ones, like the `imagesize` package sd-scripts uses: EXIF orientation
is not applied, so the figures match sd-scripts' buckets.
"""

from __future__ import annotations

import struct
from pathlib import Path

_HEADER_BYTES = 64 * 1024
_FIRST_BYTES = 4096
"""What one header read takes first: a PNG's IHDR, a WebP's or BMP's header are in it; a JPEG
reads on to its frame header, a PNG to its first IDAT (a tRNS chunk must come before it)."""


class ImageHeaderError(ValueError):
    pass


def _png(data: bytes) -> tuple[int, int]:
    if len(data) < 24 or data[12:16] != b"IHDR":
        raise ImageHeaderError("PNG without an IHDR chunk")
    return struct.unpack(">II", data[16:24])


def _jpeg(data: bytes, path: Path) -> tuple[int, int]:
    pos = 2
    with path.open("rb") as handle:
        while True:
            if pos + 4 > len(data):  # the next marker lies past what was read: read on to it and beyond
                handle.seek(len(data))
                data += handle.read(pos + _HEADER_BYTES - len(data))
                if pos + 4 > len(data):
                    raise ImageHeaderError("JPEG ends before its frame header")
            if data[pos] != 0xFF:
                raise ImageHeaderError("JPEG marker expected")
            marker = data[pos + 1]
            if marker == 0xFF:  # fill byte
                pos += 1
                continue
            if marker in (0x01, *range(0xD0, 0xD9)):
                pos += 2
                continue
            (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
            if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
                if pos + 9 > len(data):
                    handle.seek(pos)
                    data = data[:pos] + handle.read(16)
                height, width = struct.unpack(">HH", data[pos + 5 : pos + 9])
                return width, height
            if length < 2:
                raise ImageHeaderError("JPEG segment with a bad length")
            pos += 2 + length


def _webp(data: bytes) -> tuple[int, int]:
    chunk = data[12:16]
    if chunk == b"VP8 " and len(data) >= 30:
        width, height = struct.unpack("<HH", data[26:30])
        return width & 0x3FFF, height & 0x3FFF
    if chunk == b"VP8L" and len(data) >= 25:
        (bits,) = struct.unpack("<I", data[21:25])
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8X" and len(data) >= 30:
        width = int.from_bytes(data[24:27], "little") + 1
        height = int.from_bytes(data[27:30], "little") + 1
        return width, height
    raise ImageHeaderError("WebP without a known image chunk")


def _bmp(data: bytes) -> tuple[int, int]:
    if len(data) < 26:
        raise ImageHeaderError("BMP header is truncated")
    (header_size,) = struct.unpack("<I", data[14:18])
    if header_size == 12:
        return struct.unpack("<HH", data[18:22])
    width, height = struct.unpack("<ii", data[18:26])
    return abs(width), abs(height)


def image_format(data: bytes) -> str | None:
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if data.startswith(b"\xff\xd8"):
        return "jpeg"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    if data.startswith(b"BM"):
        return "bmp"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    return None


def image_size(path: Path) -> tuple[int, int]:
    """(width, height) as stored in the file's header; ImageHeaderError when it cannot be read."""
    return read_header(path)[0]


def read_header(path: Path) -> tuple[tuple[int, int], bool]:
    """Size and whether transparency is declared, from one read of the header."""
    try:
        with path.open("rb") as handle:
            data = handle.read(_FIRST_BYTES)
            if len(data) == _FIRST_BYTES and image_format(data) == "png" and b"IDAT" not in data:
                data += handle.read(_HEADER_BYTES - _FIRST_BYTES)
    except OSError as exc:
        raise ImageHeaderError(f"cannot read: {exc.strerror or exc}") from exc
    return _size(data, path), _alpha(data)


def _size(data: bytes, path: Path) -> tuple[int, int]:
    kind = image_format(data)
    try:
        if kind == "png":
            size = _png(data)
        elif kind == "jpeg":
            size = _jpeg(data, path)
        elif kind == "webp":
            size = _webp(data)
        elif kind == "bmp":
            size = _bmp(data)
        else:
            raise ImageHeaderError("not a PNG, JPEG, WebP or BMP file" if data else "empty file")
    except (struct.error, IndexError) as exc:
        raise ImageHeaderError(f"truncated {kind} header") from exc
    if size[0] <= 0 or size[1] <= 0:
        raise ImageHeaderError(f"{kind} header gives a size of {size[0]}x{size[1]}")
    return int(size[0]), int(size[1])


def has_alpha(path: Path) -> bool:
    """Whether the header declares transparency (an alpha channel or a PNG tRNS chunk)."""
    try:
        with path.open("rb") as handle:
            return _alpha(handle.read(_HEADER_BYTES))
    except OSError:
        return False


def _alpha(data: bytes) -> bool:
    kind = image_format(data)
    if kind == "png" and len(data) > 25:
        if data[25] in (4, 6):
            return True
        idat = data.find(b"IDAT")
        return data.find(b"tRNS", 0, idat if idat > 0 else len(data)) > 0
    if kind == "webp" and len(data) > 24:
        if data[12:16] == b"VP8X":
            return bool(data[20] & 0x10)
        if data[12:16] == b"VP8L":
            (bits,) = struct.unpack("<I", data[21:25])
            return bool((bits >> 28) & 1)
    return False


_PNG_END = b"\x00\x00\x00\x00IEND\xaeB`\x82"
_TAIL_BYTES = 4096


def truncation(path: Path) -> str | None:
    """Why the file looks cut short, from its end marker or the length its header declares, or None.

    No pixels are decoded: a PNG must end with its IEND chunk, a JPEG with an end-of-image marker
    (some writers pad after it), a WebP's RIFF header and a BMP's header state the file's length.
    """
    try:
        size = path.stat().st_size
        with path.open("rb") as handle:
            head = handle.read(16)
            handle.seek(max(0, size - _TAIL_BYTES))
            tail = handle.read()
    except OSError:
        return None  # an unreadable file is reported by the header read
    kind = image_format(head)
    if kind == "png" and not tail.endswith(_PNG_END):
        return "the PNG does not end with its IEND chunk"
    if kind == "jpeg" and b"\xff\xd9" not in tail:
        return "the JPEG has no end-of-image marker"
    if kind == "webp" and len(head) >= 8:
        declared = struct.unpack("<I", head[4:8])[0] + 8
        if size < declared:
            return f"the WebP header declares {declared} bytes, the file has {size}"
    if kind == "bmp" and len(head) >= 6:
        declared = struct.unpack("<I", head[2:6])[0]
        if 0 < size < declared:
            return f"the BMP header declares {declared} bytes, the file has {size}"
    return None
