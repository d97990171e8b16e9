"""Small helpers the job functions share: where datasets and models live, and the dataset row."""

from __future__ import annotations

from pathlib import Path

from flask import current_app

from ml.errors import DatasetError


def dataset_root(name: str, *, must_exist: bool = True) -> Path:
    """The folder of dataset `name` under DATA_DIR (names were validated by the web side; checked again)."""
    base = Path(current_app.config["DATA_DIR"]).resolve()
    root = (base / name).resolve()
    if root.parent != base:
        raise DatasetError(f"Dataset name {name!r} points outside the data folder.", code="bad_name")
    if must_exist and not root.is_dir():
        raise DatasetError(f"There is no dataset named {name!r}.", code="dataset_missing")
    return root


def record_dataset(name: str, *, fingerprint: str | None = None, **summary) -> None:
    """Create or update the dataset's row with the newest facts (counts, split, stats)."""
    from webapp.extensions import db
    from webapp.models import Dataset

    row = db.session.execute(db.select(Dataset).filter_by(name=name)).scalar_one_or_none()
    if row is None:
        row = Dataset(name=name, summary={})
        db.session.add(row)
    row.summary = {**(row.summary or {}), **summary}
    if fingerprint:
        row.fingerprint = fingerprint
    db.session.commit()
