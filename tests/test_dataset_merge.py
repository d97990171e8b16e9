"""`ml.dataset.merge.add_from` and `flask dataset add-from`: copy class folders, filtered by source."""

from __future__ import annotations

import csv

import pytest

from ml.dataset.merge import add_from, read_sources
from ml.errors import DatasetError
from tests.imagegen import encode, shapes


def _source_tree(root):
    rows = []
    for cls, names in {"猫": ["a", "b"], "dog": ["c"]}.items():
        for i, name in enumerate(names):
            rel = f"{cls}/{name}.jpg"
            (root / cls).mkdir(parents=True, exist_ok=True)
            (root / rel).write_bytes(encode(shapes(len(rows))))
            rows.append({"class": cls, "staged_path": rel, "source_repo": f"site{i % 2}", "source_path": name})
    with open(root / "SOURCES.csv", "w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return rows


def test_add_from_copies_everything_and_keeps_the_source(tmp_path):
    src, dest = tmp_path / "src", tmp_path / "dest"
    _source_tree(src)
    counts = add_from(src, dest, prefix="more")
    assert counts == {"猫": 2, "dog": 1}
    assert sorted(p.name for p in (dest / "猫").iterdir()) == ["more_a.jpg", "more_b.jpg"]
    assert (src / "猫" / "a.jpg").exists()
    # A second run adds nothing and overwrites nothing.
    with pytest.raises(DatasetError) as info:
        add_from(src, dest, prefix="more")
    assert info.value.code == "empty_dataset"


def test_add_from_filters_by_source(tmp_path):
    src, dest = tmp_path / "src", tmp_path / "dest"
    _source_tree(src)
    assert read_sources(src)["猫/b.jpg"] == "site1"
    assert add_from(src, dest, exclude_sources=["site1"]) == {"猫": 1, "dog": 1}
    assert not (dest / "猫" / "add_b.jpg").exists()
    assert add_from(src, tmp_path / "only", only_sources=["site1"]) == {"猫": 1}


def test_add_from_refuses_unknown_sources_and_missing_csv(tmp_path):
    src = tmp_path / "src"
    _source_tree(src)
    with pytest.raises(DatasetError, match="nowhere"):
        add_from(src, tmp_path / "d", exclude_sources=["nowhere"])
    (src / "SOURCES.csv").unlink()
    with pytest.raises(DatasetError, match="SOURCES.csv"):
        add_from(src, tmp_path / "d", only_sources=["site0"])


def test_cli_add_from(runner, tmp_path):
    src, dest = tmp_path / "src", tmp_path / "dest"
    _source_tree(src)
    result = runner.invoke(args=["dataset", "add-from", str(src), str(dest), "--only-sources", "site0"])
    assert result.exit_code == 0, result.output
    assert "TOTAL" in result.output and (dest / "dog" / "add_c.jpg").exists()
    bad = runner.invoke(args=["dataset", "add-from", str(src), str(dest), "--exclude-sources", "nope"])
    assert bad.exit_code != 0 and "nope" in bad.output
