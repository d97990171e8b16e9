"""ml.dataset: scan, split and stats on generated datasets, including every bad input."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from PIL import Image

from ml.dataset import list_classes, read_split, scan, split, stats
from ml.dataset.layout import read_metadata
from ml.errors import Cancelled, DatasetError
from tests import imagegen


@pytest.fixture
def ds(tmp_path):
    """Three classes, one with a Unicode name, plus files at the root and a hidden folder."""
    root = imagegen.make_dataset(tmp_path / "ds", {"猫": 10, "Golden Retriever": 10, "cow": 10})
    (root / "README.md").write_text("not a class")
    (root / "SOURCES.csv").write_text("a,b\n")
    (root / ".cache").mkdir()
    (root / ".cache" / "x.jpg").write_bytes(b"")
    return root


def test_classes_are_subfolders_sorted_and_unicode(ds):
    assert list_classes(ds) == sorted(["猫", "Golden Retriever", "cow"])


def test_scan_counts_and_ignores_root_files(ds):
    report = scan(ds)
    assert report.classes == {"Golden Retriever": 10, "cow": 10, "猫": 10}
    assert report.ignored == ["README.md", "SOURCES.csv"]
    assert report.rejected == [] and report.exact_duplicates == [] and report.near_duplicates == []


def test_scan_moves_unreadable_files_with_reasons(ds):
    (ds / "猫" / "page.jpg").write_bytes(imagegen.html_page())
    (ds / "猫" / "cut.jpg").write_bytes(imagegen.truncated_jpeg())
    (ds / "cow" / "empty.png").write_bytes(b"")
    (ds / "cow" / "bomb.png").write_bytes(imagegen.bomb_png())
    (ds / "cow" / "dot.png").write_bytes(imagegen.encode(Image.new("RGB", (1, 1)), "PNG"))
    report = scan(ds)
    codes = {item["path"]: item["code"] for item in report.rejected}
    assert codes == {
        "猫/page.jpg": "not_image",
        "猫/cut.jpg": "truncated",
        "cow/empty.png": "empty",
        "cow/bomb.png": "too_many_pixels",
        "cow/dot.png": "too_small",
    }
    # Moved, never deleted, and the reason is on disk for a person to read.
    assert not (ds / "猫" / "page.jpg").exists()
    assert (ds / ".rejected" / "猫" / "page.jpg").read_bytes() == imagegen.html_page()
    log = [json.loads(line) for line in (ds / ".rejected" / "rejected.jsonl").read_text().splitlines()]
    assert {e["original"] for e in log} == set(codes)
    assert all(e["reason"] for e in log)
    assert report.classes["cow"] == 10
    # A second scan finds nothing new and does not treat .rejected as a class.
    again = scan(ds)
    assert again.rejected == [] and ".rejected" not in again.classes


def test_scan_dry_run_moves_nothing(ds):
    (ds / "cow" / "empty.png").write_bytes(b"")
    report = scan(ds, move_rejected=False)
    assert report.rejected[0]["code"] == "empty"
    assert (ds / "cow" / "empty.png").exists()


def test_exact_and_near_duplicates_within_and_across_classes(ds):
    original = (ds / "cow" / "0001.jpg").read_bytes()
    shutil.copy(ds / "cow" / "0001.jpg", ds / "cow" / "copy.jpg")  # exact, same class
    shutil.copy(ds / "cow" / "0002.jpg", ds / "猫" / "stolen.jpg")  # exact, other class
    (ds / "cow" / "smaller.jpg").write_bytes(imagegen.near_duplicate(original))  # near, same class
    report = scan(ds)
    assert ["cow/0001.jpg", "cow/copy.jpg"] in report.exact_duplicates
    assert ["cow/0002.jpg", "猫/stolen.jpg"] in report.exact_duplicates
    assert any({"cow/0001.jpg", "cow/copy.jpg", "cow/smaller.jpg"} <= set(g) for g in report.near_duplicates)
    assert ["cow/0002.jpg", "猫/stolen.jpg"] in report.cross_class_groups
    # Different generated pictures are not near duplicates of each other.
    flagged = {p for g in report.near_duplicates for p in g}
    assert flagged == {"cow/0001.jpg", "cow/copy.jpg", "cow/smaller.jpg"}


def test_empty_class_is_reported_not_a_crash(ds):
    (ds / "empty class").mkdir()
    (ds / "broken").mkdir()
    (ds / "broken" / "a.jpg").write_bytes(b"junk")
    report = scan(ds)
    assert report.empty_classes == ["broken", "empty class"]
    assert report.classes["broken"] == 0


def test_rescan_uses_cache_and_notices_changed_files(ds):
    scan(ds)
    (ds / "cow" / "0003.jpg").write_bytes(b"now broken")
    report = scan(ds)
    assert [r["path"] for r in report.rejected] == ["cow/0003.jpg"]


def test_split_is_stratified_deterministic_and_written(ds):
    result = split(ds, test=0.2, seed=7)
    for cls in ("猫", "cow", "Golden Retriever"):
        assert result.counts[cls]["test"] == 2 and result.counts[cls]["train"] == 8
    classes = json.loads((ds / "classes.json").read_text(encoding="utf-8"))
    assert classes == list_classes(ds)
    lines = (ds / "train.txt").read_text(encoding="utf-8").splitlines()
    rel, label = lines[0].split("\t")
    assert (ds / rel).exists() and classes[int(label)] == rel.split("/")[0]
    assert read_metadata(ds)["split"]["fingerprint"] == result.fingerprint
    first = {n: (ds / n).read_bytes() for n in ("train.txt", "test.txt")}
    split(ds, test=0.2, seed=7)
    assert {n: (ds / n).read_bytes() for n in first} == first
    split(ds, test=0.2, seed=8)
    assert (ds / "test.txt").read_bytes() != first["test.txt"]
    assert not (ds / "val.txt").exists()


def test_split_with_validation(ds):
    result = split(ds, test=0.2, val=0.2, seed=0)
    _, val_rows = read_split(ds, "val")
    assert len(val_rows) == 6 and all(c["val"] == 2 for c in result.counts.values())
    train = {r for r, _ in read_split(ds, "train")[1]}
    test = {r for r, _ in read_split(ds, "test")[1]}
    assert not (train & test) and not (train & {r for r, _ in val_rows})


def test_split_never_separates_duplicates(ds):
    for i in range(6):  # many near-duplicate pairs so chance alone would straddle some
        data = (ds / "cow" / f"{i:04d}.jpg").read_bytes()
        (ds / "cow" / f"near{i}.jpg").write_bytes(imagegen.near_duplicate(data))
    shutil.copy(ds / "猫" / "0000.jpg", ds / "猫" / "again.jpg")
    for seed in range(5):
        result = split(ds, test=0.3, seed=seed)
        assert result.groups_across_parts == 0
        where = {}
        for part in ("train", "test"):
            for rel, _ in read_split(ds, part)[1]:
                where[rel] = part
        for i in range(6):
            assert where[f"cow/{i:04d}.jpg"] == where[f"cow/near{i}.jpg"]
        assert where["猫/0000.jpg"] == where["猫/again.jpg"]


def test_split_refuses_too_few_images(tmp_path):
    root = imagegen.make_dataset(tmp_path / "small", {"cat": 5, "dog": 1})
    with pytest.raises(DatasetError, match="Class 'dog' has only 1") as info:
        split(root)
    assert info.value.code == "too_few_images"
    root2 = imagegen.make_dataset(tmp_path / "small2", {"cat": 5, "dog": 2})
    with pytest.raises(DatasetError, match="train/val/test"):
        split(root2, val=0.1)


def test_split_refuses_empty_class_one_class_and_no_classes(tmp_path):
    root = imagegen.make_dataset(tmp_path / "d", {"cat": 5, "dog": 5})
    (root / "bird").mkdir()
    with pytest.raises(DatasetError, match="'bird' has only 0"):
        split(root)
    one = imagegen.make_dataset(tmp_path / "one", {"cat": 5})
    with pytest.raises(DatasetError, match="only one class"):
        split(one)
    (tmp_path / "none").mkdir()
    with pytest.raises(DatasetError, match="no class folders"):
        split(tmp_path / "none")


def test_missing_dataset_and_bad_fractions(tmp_path):
    with pytest.raises(DatasetError, match="not found"):
        scan(tmp_path / "missing")
    with pytest.raises(DatasetError, match="between 0 and 1"):
        split(tmp_path, test=1.5)
    with pytest.raises(DatasetError, match="leave images for training"):
        split(tmp_path, test=0.5, val=0.5)


def test_stats_match_numpy_over_the_training_split(tmp_path):
    root = tmp_path / "pics"
    rng = np.random.default_rng(0)
    for ci, cls in enumerate(("red", "blue")):
        (root / cls).mkdir(parents=True)
        for i in range(5):
            # 32×32 already: measuring at size 32 must see exactly these pixels.
            arr = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
            arr[..., ci * 2] = np.maximum(arr[..., ci * 2], 180)
            (root / cls / f"{i}.png").write_bytes(imagegen.encode(Image.fromarray(arr), "PNG"))
    split(root, test=0.2, seed=0)
    result = stats(root, size=32)
    train = read_split(root, "train")[1]
    pixels = np.concatenate(
        [np.asarray(Image.open(root / rel), dtype=np.float64).reshape(-1, 3) / 255 for rel, _ in train]
    )
    assert result.images == len(train) == 8
    assert np.allclose(result.mean, pixels.mean(axis=0), atol=1e-5)
    assert np.allclose(result.std, pixels.std(axis=0), atol=1e-5)
    assert read_metadata(root)["stats"]["mean"] == result.mean


def test_stats_before_split_says_so(ds):
    with pytest.raises(DatasetError, match="not split yet") as info:
        stats(ds)
    assert info.value.code == "not_split"


def test_cancellation_stops_a_scan(ds):
    calls = []

    def stop():
        calls.append(1)
        return len(calls) > 3

    with pytest.raises(Cancelled):
        scan(ds, should_stop=stop)


def test_progress_reports_every_file(ds):
    seen = []
    scan(ds, on_progress=seen.append)
    assert seen[-1].done == seen[-1].total == 30
    assert {p.stage for p in seen} == {"scan"}
