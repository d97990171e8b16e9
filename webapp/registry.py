"""Model versions in the database: register a finished model file, activate one, find the active one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .errors import NotFound
from .extensions import db
from .models import ModelVersion, utcnow
from .serving_state import forget_active_model


def register_model(path: str | Path, *, name: str | None = None, arch: str | None = None, classes: list | None = None,
                   metrics: dict | None = None, dataset_fingerprint: str | None = None, job_id: str | None = None,
                   activate: bool = False) -> ModelVersion:
    """Record a model file that is complete on disk (written, renamed into place); optionally activate it."""
    path = str(Path(path).resolve())
    row = db.session.execute(db.select(ModelVersion).filter_by(path=path)).scalar_one_or_none()
    if row is None:
        row = ModelVersion(path=path)
        db.session.add(row)
    row.name = name or Path(path).parent.name or Path(path).stem
    row.arch, row.classes, row.metrics = arch, list(classes or []), metrics or {}
    row.dataset_fingerprint, row.job_id = dataset_fingerprint, job_id
    db.session.flush()
    if activate:
        activate_model(row.id, commit=False)
    db.session.commit()
    return row


def activate_model(model_id: int, *, commit: bool = True) -> ModelVersion:
    """Make `model_id` the one model that answers predictions (every web worker switches on its next request)."""
    row = db.session.get(ModelVersion, model_id)
    if row is None:
        raise NotFound(f"There is no model version {model_id}.")
    if not Path(row.path).is_file():
        raise NotFound(f"The file of model version {model_id} is gone ({row.path}).", code="model_missing")
    db.session.execute(db.update(ModelVersion).where(ModelVersion.id != model_id).values(is_active=False))
    row.is_active, row.activated_at = True, utcnow()
    if commit:
        db.session.commit()
    forget_active_model()  # this process switches at once; the others within ACTIVE_MODEL_TTL
    return row


def active_model() -> ModelVersion | None:
    """The active model version row, if any."""
    return db.session.execute(db.select(ModelVersion).filter_by(is_active=True).limit(1)).scalar_one_or_none()


def list_models() -> list[ModelVersion]:
    """Every model version, newest first."""
    return list(db.session.execute(db.select(ModelVersion).order_by(ModelVersion.created_at.desc(), ModelVersion.id.desc())).scalars())


def model_summary(info: dict[str, Any]) -> dict[str, Any]:
    """The registry fields from a predictor's `info` dict (arch, classes, metrics, fingerprint)."""
    metrics = info.get("metrics") or {}
    return {"arch": info.get("arch"), "classes": list(info.get("classes") or []), "metrics": metrics,
            "dataset_fingerprint": (info.get("dataset") or {}).get("fingerprint") if isinstance(info.get("dataset"), dict)
            else info.get("dataset_fingerprint")}
