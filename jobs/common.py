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
    """Create or update the dataset's row with the newest facts (crawls, split, stats).

    Two workers may finish jobs on the same dataset at once (two crawls into different classes):
    the row is locked while updated, and a lost race to create it is retried as an update.
    """
    from sqlalchemy.exc import IntegrityError

    from webapp.extensions import db
    from webapp.models import Dataset

    for attempt in range(3):
        row = db.session.execute(db.select(Dataset).filter_by(name=name).with_for_update()).scalar_one_or_none()
        if row is None:
            row = Dataset(name=name, summary={})
            db.session.add(row)
        merged = dict(row.summary or {})
        for key, value in summary.items():
            if isinstance(value, dict) and isinstance(merged.get(key), dict):
                merged[key] = {**merged[key], **value}
            else:
                merged[key] = value
        row.summary = merged
        if fingerprint:
            row.fingerprint = fingerprint
        try:
            db.session.commit()
            return
        except IntegrityError:
            db.session.rollback()
            if attempt == 2:
                raise
