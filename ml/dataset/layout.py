"""Where things live in a dataset folder, and reading/writing its metadata file."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from ..errors import DatasetError
from ..files import write_json_atomic, write_text_atomic
from ..operations.names import is_hidden, is_name

__all__ = ["write_json_atomic", "write_text_atomic"]  # the one atomic write lives in ml.files

METADATA_FILE = "dataset.json"
CLASSES_FILE = "classes.json"
REJECTED_DIR = ".rejected"
SPLIT_FILES = {"train": "train.txt", "val": "val.txt", "test": "test.txt"}


def require_dataset(root: str | os.PathLike) -> Path:
    """Return `root` as a Path, or raise DatasetError if it is not an existing folder."""
    path = Path(root)
    if not path.exists():
        raise DatasetError(f"Dataset folder not found: {path}", code="dataset_not_found")
    if not path.is_dir():
        raise DatasetError(f"Not a folder: {path}", code="dataset_not_found")
    return path


def list_classes(root: str | os.PathLike) -> list[str]:
    """Class names: the subfolders of `root` that pass the one name rule, sorted by code point (stable indices)."""
    path = require_dataset(root)
    return sorted(entry.name for entry in path.iterdir() if entry.is_dir() and is_name(entry.name))


def list_class_files(root: str | os.PathLike, class_name: str) -> list[str]:
    """Relative POSIX paths of every non-hidden file under one class folder, sorted."""
    base = require_dataset(root)
    out: list[str] = []
    for dirpath, dirnames, filenames in os.walk(base / class_name):
        dirnames[:] = sorted(d for d in dirnames if not is_hidden(d))
        for name in filenames:
            if not is_hidden(name):
                out.append(Path(dirpath, name).relative_to(base).as_posix())
    return sorted(out)


def read_metadata(root: str | os.PathLike) -> dict[str, Any]:
    """The dataset's metadata (scan cache, split settings, stats); empty if none yet."""
    path = require_dataset(root) / METADATA_FILE
    if not path.exists():
        return {}
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError):
        # A damaged cache only costs a re-scan; keep the bad copy for a person to look at.
        path.replace(path.with_suffix(".json.broken"))
        return {}


def update_metadata(root: str | os.PathLike, **sections: Any) -> dict[str, Any]:
    """Replace top-level sections of dataset.json and return the whole document."""
    base = require_dataset(root)
    meta = read_metadata(base)
    meta.setdefault("format", 1)
    meta.update(sections)
    write_json_atomic(base / METADATA_FILE, meta)
    return meta


def read_split(root: str | os.PathLike, part: str = "train") -> tuple[list[str], list[tuple[str, int]]]:
    """Class names and `(relative_path, label_index)` rows of one split part, or DatasetError."""
    base = require_dataset(root)
    classes_path = base / CLASSES_FILE
    list_path = base / SPLIT_FILES[part]
    if not classes_path.exists() or not (base / SPLIT_FILES["train"]).exists():
        raise DatasetError(
            f"Dataset {base} is not split yet: run `flask dataset split {base}` first.",
            code="not_split",
        )
    classes = json.loads(classes_path.read_text(encoding="utf-8"))
    if not list_path.exists():
        return classes, []
    rows: list[tuple[str, int]] = []
    for lineno, line in enumerate(list_path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            rel, label = line.rsplit("\t", 1)
            index = int(label)
        except ValueError:
            raise DatasetError(
                f"{list_path.name} line {lineno} is not 'path<TAB>label': {line!r}", code="bad_split"
            ) from None
        if not 0 <= index < len(classes):
            raise DatasetError(
                f"{list_path.name} line {lineno} has label {index}, but there are {len(classes)} classes.",
                code="bad_split",
            )
        rows.append((rel, index))
    return classes, rows


def check_classes_on_disk(root: str | os.PathLike, classes: list[str]) -> None:
    """Raise DatasetError when a class listed in the split has no folder any more."""
    base = Path(root)
    gone = [c for c in classes if not (base / c).is_dir()]
    if gone:
        raise DatasetError(
            f"Class folder(s) listed in the split are missing from {base}: {', '.join(gone)}. "
            f"Restore them or split again (`flask dataset split {base}`).",
            code="class_missing",
        )
