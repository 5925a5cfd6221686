"""kohyawiz.files: one atomic writer with one permission rule, and the one home folder."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from kohyawiz.files import kohyawiz_home, write_atomic, write_together


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_text_and_bytes_get_the_umask_mode_and_replace_a_planted_link(tmp_path: Path) -> None:
    old = os.umask(0o027)
    try:
        victim = tmp_path / "victim"
        victim.write_text("keep")
        (tmp_path / "a.txt").symlink_to(victim)
        write_atomic(tmp_path / "a.txt", "héllo\n")
        write_atomic(tmp_path / "b.png", b"\x89PNG")
    finally:
        os.umask(old)
    assert victim.read_text() == "keep"
    assert not (tmp_path / "a.txt").is_symlink()
    assert (tmp_path / "a.txt").read_bytes() == "héllo\n".encode()
    assert (tmp_path / "b.png").read_bytes() == b"\x89PNG"
    assert _mode(tmp_path / "a.txt") == _mode(tmp_path / "b.png") == 0o640
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt", "b.png", "victim"]


def test_prepared_copies_follow_the_same_permission_rule(tmp_path: Path) -> None:
    from kohyawiz.dataset.prepare import prepare
    from kohyawiz.demo import png_bytes

    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "one.png").write_bytes(png_bytes(512, 512))
    (raw / "one.txt").write_text("kwdemo, solo")
    old = os.umask(0o077)
    try:
        prepare(raw, tmp_path / "into")
    finally:
        os.umask(old)
    written = sorted((tmp_path / "into").iterdir())
    assert [p.name for p in written] == ["one.png", "one.txt"]
    assert {_mode(p) for p in written} == {0o600}


def test_writing_together_fails_whole_and_leaves_no_temporary_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from kohyawiz.errors import UserError

    write_together(tmp_path, {"a.toml": "old a\n", "b.toml": "old b\n"})
    real_replace = os.replace
    calls = []

    def second_rename_fails(src: str, dst: Path) -> None:
        calls.append(dst)
        if len(calls) == 1:
            raise OSError(28, "No space left on device")
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", second_rename_fails)
    with pytest.raises(UserError, match="No space left"):
        write_together(tmp_path, {"a.toml": "new a\n", "b.toml": "new b\n"})
    assert (tmp_path / "a.toml").read_text() == "old a\n"
    assert (tmp_path / "b.toml").read_text() == "old b\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.toml", "b.toml"]


def test_the_home_folder_follows_kohyawiz_home_then_xdg(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("KOHYAWIZ_HOME", str(tmp_path / "kw"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert kohyawiz_home() == tmp_path / "kw"
    monkeypatch.delenv("KOHYAWIZ_HOME")
    assert kohyawiz_home() == tmp_path / "xdg" / "kohyawiz"
    from kohyawiz.learned import learned_dir
    from kohyawiz.run.records.record import runs_home

    assert learned_dir().parent == runs_home().parent == tmp_path / "xdg" / "kohyawiz"


def test_every_test_has_its_own_home_away_from_the_real_one(own_kohyawiz_home: Path, tmp_path_factory) -> None:
    assert kohyawiz_home() == own_kohyawiz_home
    assert tmp_path_factory.getbasetemp() in own_kohyawiz_home.parents
    assert Path.home() / ".local" / "share" / "kohyawiz" not in (own_kohyawiz_home, *own_kohyawiz_home.parents)
    assert list(own_kohyawiz_home.iterdir()) == []  # fresh, not shared with another test
