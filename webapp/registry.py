"""Model versions in the database: register a finished model file, activate one (each switch is recorded
in the activation history, whichever way it was asked for), roll back, find the active one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .errors import Conflict, NotFound
from .extensions import db
from .models import Activation, ModelVersion, User, utcnow
from .serving_state import forget_active_model


def register_model(path: str | Path, *, name: str | None = None, arch: str | None = None, classes: list | None = None,
                   metrics: dict | None = None, dataset_fingerprint: str | None = None, job_id: str | None = None,
                   activate: bool = False, via: str = "cli", user: User | None = None) -> ModelVersion:
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
        activate_model(row.id, commit=False, via=via, user=user)
    db.session.commit()
    return row


class NothingToRollBack(Conflict):
    """No earlier model to go back to (no activation recorded, or the one before was removed)."""

    code = "nothing_to_roll_back"


def activate_model(model_id: int, *, commit: bool = True, via: str = "cli", user: User | None = None) -> ModelVersion:
    """Make `model_id` the one model that answers predictions (every web worker switches on its next request).

    Every way of activating (admin page, API, `flask register-model --activate`, rollback) comes here,
    so each switch is recorded once in the activation history: which model, the one it replaced, who, how.
    """
    row = db.session.get(ModelVersion, model_id)
    if row is None:
        raise NotFound(f"There is no model version {model_id}.")
    if not Path(row.path).is_file():
        raise NotFound(f"The file of model version {model_id} is gone ({row.path}).", code="model_missing")
    previous = active_model()
    if previous is None or previous.id != row.id:  # activating the active model again switches nothing
        db.session.add(Activation(model_version_id=row.id, previous_id=previous.id if previous else None,
                                  user_id=user.id if user is not None and user.is_authenticated else None, via=via))
    db.session.execute(db.update(ModelVersion).where(ModelVersion.id != model_id).values(is_active=False))
    row.is_active, row.activated_at = True, utcnow()
    if commit:
        db.session.commit()
    forget_active_model()  # this process switches at once; the others within ACTIVE_MODEL_TTL
    return row


def rollback_target() -> ModelVersion | None:
    """The model a rollback would activate: the one the last recorded activation replaced, if it still exists."""
    last = activation_history(1)
    current = active_model()
    if not last or current is None or last[0].model_version_id != current.id:
        return None  # the active model was not set by a recorded activation (e.g. before the history existed)
    return last[0].previous


def roll_back(*, user: User | None = None) -> ModelVersion:
    """Activate again the model the last activation replaced (recorded as an activation with via="rollback")."""
    target = rollback_target()
    if target is None:
        raise NothingToRollBack("There is no earlier model to roll back to.")
    return activate_model(target.id, via="rollback", user=user)


def activation_history(limit: int = 20, *, model_id: int | None = None) -> list[Activation]:
    """Recorded activations, newest first; with `model_id`, only those that activated or replaced that model."""
    query = db.select(Activation).order_by(Activation.created_at.desc(), Activation.id.desc())
    if model_id is not None:
        query = query.where((Activation.model_version_id == model_id) | (Activation.previous_id == model_id))
    return list(db.session.execute(query.limit(limit)).scalars())


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
