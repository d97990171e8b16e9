"""The one atomic write (ml.files.atomic_path): a reader sees the old file or the new one, never half."""

from __future__ import annotations

import json

import pytest

from ml.files import atomic_path, write_bytes_atomic, write_json_atomic, write_text_atomic


def test_a_finished_block_replaces_the_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "sub" / "model.bin"
    with atomic_path(target) as tmp:
        assert tmp.parent == target.parent and tmp.name.startswith(".model.bin.") and tmp.suffix == ".tmp"
        tmp.write_bytes(b"new")
        assert not target.exists()  # nothing visible until the block ends
    assert target.read_bytes() == b"new"
    assert [p.name for p in target.parent.iterdir()] == ["model.bin"]


def test_a_failing_block_keeps_the_old_file_and_removes_the_temporary(tmp_path):
    target = tmp_path / "metrics.json"
    target.write_text("old", encoding="utf-8")
    with pytest.raises(RuntimeError, match="disk full"), atomic_path(target) as tmp:
        tmp.write_text("half", encoding="utf-8")
        raise RuntimeError("disk full")
    assert target.read_text(encoding="utf-8") == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.json"]


def test_the_writers_built_on_it(tmp_path):
    assert write_bytes_atomic(tmp_path / "a.bin", b"\x00\x01", fsync=True).read_bytes() == b"\x00\x01"
    assert write_text_atomic(tmp_path / "b.txt", "猫\t0\n").read_bytes() == "猫\t0\n".encode()
    path = write_json_atomic(tmp_path / "c.json", {"猫": [1, 2]})
    assert json.loads(path.read_text(encoding="utf-8")) == {"猫": [1, 2]}
    assert "猫" in path.read_text(encoding="utf-8")  # kept readable, not \\u escapes
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.bin", "b.txt", "c.json"]


def test_no_hand_written_atomic_write_is_left():
    """Every rename-into-place of a written file goes through ml.files (a second copy is a bug waiting)."""
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    pattern = re.compile(r"mkstemp|\.tmp\"")
    offenders = sorted({str(p.relative_to(root)) for pkg in ("ml", "jobs", "webapp", "desktop")
                        for p in (root / pkg).rglob("*.py") if p.name != "files.py"
                        for line in p.read_text(encoding="utf-8").splitlines() if pattern.search(line)})
    # The crawler stages a download under a temporary name before it knows the final one, and the
    # secret key is created once with os.link (first writer wins): neither overwrites a file.
    assert offenders == ["ml/crawl/manifest.py", "webapp/config.py"], offenders
