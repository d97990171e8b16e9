"""Dataset path checks, admin edits and thumbnails, at the filesystem level (no HTTP)."""

from __future__ import annotations

import json
import os

import pytest

from ml.dataset import list_class_files, read_metadata, read_split, split
from tests.imagegen import encode, make_dataset, shapes, truncated_jpeg
from webapp.datasets.edit import TRASH_DIR, EditError, move_image, rename_class, trash_image
from webapp.datasets.paths import UnsafePath, check_name, class_dir, dataset_root, image_file
from webapp.datasets.thumbs import thumbnail


@pytest.fixture
def data_dir(tmp_path):
    base = tmp_path / "datasets"
    make_dataset(base / "animals", {"猫": 4, "dog": 4}, coloured=True)
    (tmp_path / "secret.txt").write_text("top secret")
    return base


@pytest.mark.parametrize(
    "name", ["", ".", "..", ".trash", ".rejected", "a/b", "a\\b", "/etc", "x\0y", " padded", "__pycache__"]
)
def test_check_name_refuses(name):
    with pytest.raises(UnsafePath):
        check_name(name)


def test_check_name_accepts_unicode():
    assert check_name("猫") == "猫"
    assert check_name("snow leopard") == "snow leopard"


@pytest.mark.parametrize("name", ["..", "../datasets", "/etc", "missing", ".hidden"])
def test_dataset_root_refuses(data_dir, name):
    (data_dir / ".hidden").mkdir()
    with pytest.raises(UnsafePath):
        dataset_root(data_dir, name)


def test_dataset_root_refuses_symlink_leaving_data_dir(data_dir, tmp_path):
    outside = tmp_path / "elsewhere"
    make_dataset(outside, {"cat": 2}, coloured=True)
    (data_dir / "linked").symlink_to(outside, target_is_directory=True)
    with pytest.raises(UnsafePath):
        dataset_root(data_dir, "linked")


@pytest.mark.parametrize(
    "rel",
    [
        "../secret.txt",
        "../../secret.txt",
        "猫/../../../secret.txt",
        "/etc/passwd",
        "猫",
        "猫/",
        "猫//0000.jpg",
        "猫/./0000.jpg",
        "nope/0000.jpg",
        ".trash/猫/0000.jpg",
        "猫/missing.jpg",
        str(os.path.abspath("/etc/passwd")),
    ],
)
def test_image_file_refuses(data_dir, rel):
    with pytest.raises(UnsafePath):
        image_file(data_dir / "animals", rel)


def test_image_file_refuses_symlink_to_outside(data_dir, tmp_path):
    link = data_dir / "animals" / "猫" / "escape.jpg"
    link.symlink_to(tmp_path / "secret.txt")
    with pytest.raises(UnsafePath):
        image_file(data_dir / "animals", "猫/escape.jpg")


def test_class_symlink_to_outside_is_refused(data_dir, tmp_path):
    outside = tmp_path / "outside_class"
    outside.mkdir()
    (outside / "a.jpg").write_bytes(encode(shapes(1)))
    (data_dir / "animals" / "evil").symlink_to(outside, target_is_directory=True)
    with pytest.raises(UnsafePath):
        class_dir(data_dir / "animals", "evil")
    with pytest.raises(UnsafePath):
        image_file(data_dir / "animals", "evil/a.jpg")


def test_image_file_accepts_a_real_image(data_dir):
    path, cls = image_file(data_dir / "animals", "猫/0000.jpg")
    assert cls == "猫" and path.is_file()


def test_trash_keeps_the_file_and_updates_split(data_dir):
    root = data_dir / "animals"
    split(root, test=0.25)
    all_rows = [r for part in ("train", "test") for r, _ in read_split(root, part)[1]]
    assert "猫/0000.jpg" in all_rows
    moved = trash_image(root, "猫/0000.jpg")
    assert moved == f"{TRASH_DIR}/猫/0000.jpg"
    assert (root / moved).is_file()
    assert not (root / "猫" / "0000.jpg").exists()
    rows = [r for part in ("train", "test") for r, _ in read_split(root, part)[1]]
    assert "猫/0000.jpg" not in rows and len(rows) == len(all_rows) - 1
    assert "猫/0000.jpg" not in list_class_files(root, "猫")
    log = (root / TRASH_DIR / "edits.jsonl").read_text(encoding="utf-8").splitlines()
    assert json.loads(log[-1])["action"] == "delete"
    assert read_metadata(root)["edited"]["last"] == "delete"


def test_trash_twice_same_name_does_not_overwrite(data_dir):
    root = data_dir / "animals"
    first = trash_image(root, "猫/0000.jpg")
    (root / "猫" / "0000.jpg").write_bytes(encode(shapes(99)))
    second = trash_image(root, "猫/0000.jpg")
    assert first != second and (root / first).exists() and (root / second).exists()


def test_move_updates_label_in_split(data_dir):
    root = data_dir / "animals"
    split(root, test=0.25)
    classes = json.loads((root / "classes.json").read_text(encoding="utf-8"))
    new_rel = move_image(root, "猫/0001.jpg", "dog")
    assert new_rel.startswith("dog/") and (root / new_rel).is_file()
    rows = dict(r for part in ("train", "test") for r in read_split(root, part)[1])
    assert "猫/0001.jpg" not in rows
    assert rows[new_rel] == classes.index("dog")


def test_move_to_same_class_or_missing_class_is_refused(data_dir):
    root = data_dir / "animals"
    with pytest.raises(EditError) as info:
        move_image(root, "猫/0001.jpg", "猫")
    assert info.value.code == "same_class"
    with pytest.raises(UnsafePath):
        move_image(root, "猫/0001.jpg", "../../outside")


def test_rename_class_keeps_indices_and_paths(data_dir):
    root = data_dir / "animals"
    split(root, test=0.25)
    before = read_split(root, "train")
    rename_class(root, "dog", "狗")
    classes, rows = read_split(root, "train")
    assert classes == ["狗" if c == "dog" else c for c in before[0]]
    assert [lbl for _, lbl in rows] == [lbl for _, lbl in before[1]]
    assert all((root / rel).is_file() for rel, _ in rows)
    assert (root / "狗").is_dir() and not (root / "dog").exists()


@pytest.mark.parametrize("new_name,code", [("猫", "class_exists"), ("../x", "bad_class_name"), (".hidden", "bad_class_name"), ("dog", "same_name")])
def test_rename_class_refusals(data_dir, new_name, code):
    with pytest.raises(EditError) as info:
        rename_class(data_dir / "animals", "dog", new_name)
    assert info.value.code == code
    assert (data_dir / "animals" / "dog").is_dir()


def test_thumbnail_made_once_and_remade_after_change(data_dir, tmp_path):
    source = data_dir / "animals" / "猫" / "0000.jpg"
    cache = tmp_path / "thumbs"
    first = thumbnail(source, cache, 32)
    assert first is not None and first.is_file()
    from PIL import Image

    with Image.open(first) as img:
        assert max(img.size) == 32
    stamp = first.stat().st_mtime_ns
    assert thumbnail(source, cache, 32) == first
    assert first.stat().st_mtime_ns == stamp  # served from the cache, not rewritten
    source.write_bytes(encode(shapes(7, size=(200, 100))))
    os.utime(source, ns=(stamp + 10**9, stamp + 10**9))
    second = thumbnail(source, cache, 32)
    assert second is not None and second != first


def test_thumbnail_of_broken_file_is_none_and_remembered(data_dir, tmp_path):
    broken = data_dir / "animals" / "猫" / "broken.jpg"
    broken.write_bytes(truncated_jpeg())
    cache = tmp_path / "thumbs"
    assert thumbnail(broken, cache) is None
    markers = list(cache.rglob("*.bad"))
    assert len(markers) == 1
    assert thumbnail(broken, cache) is None


def test_file_gone_between_check_and_move_is_a_clear_refusal(data_dir, monkeypatch):
    from webapp.datasets import edit

    root = data_dir / "animals"
    real_image_file = edit.image_file

    def vanishing(root_, rel):
        found = real_image_file(root_, rel)
        found[0].unlink()  # another admin got there first
        return found

    monkeypatch.setattr(edit, "image_file", vanishing)
    with pytest.raises(EditError) as info:
        trash_image(root, "猫/0000.jpg")
    assert info.value.code == "changed_meanwhile"
