"""Small helpers the job functions share: where a dataset lives."""

from __future__ import annotations

from pathlib import Path

from ml.errors import DatasetError


def dataset_root(data_dir: str | Path, name: str, *, must_exist: bool = True) -> Path:
    """The folder of dataset `name` under `data_dir` (names were validated by the enqueuer; checked again)."""
    base = Path(data_dir).resolve()
    root = (base / name).resolve()
    if root.parent != base:
        raise DatasetError(f"Dataset name {name!r} points outside the data folder.", code="bad_name")
    if must_exist and not root.is_dir():
        raise DatasetError(f"There is no dataset named {name!r}.", code="dataset_missing")
    return root
