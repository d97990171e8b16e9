"""Corrections: a visitor says an answer was wrong; an administrator accepts the picture into a class or rejects it.

The visitor sends the picture again with the class they chose (nothing is kept from the
prediction itself), so only pictures someone asked us to keep are stored. Each is decoded with
the public pixel limit and re-encoded as a JPEG no larger than STORED_SIDE, under
CORRECTIONS_DIR/<id>.jpg; at most CORRECTIONS_MAX_PENDING wait at once. Accepting copies the
picture into DATA_DIR/<dataset>/<class>/ (logged like every dataset edit); rejecting deletes it.

Retraining from a model reuses that model's recipe (`recorded_recipe`): the web settings of its
training job, else those in the metadata beside its file; the default recipe when neither is recorded.
"""

from __future__ import annotations

import io
from datetime import datetime
from pathlib import Path

from flask import current_app

from ml.errors import MLError
from ml.files import write_bytes_atomic
from ml.operations import TrainConfig

from .errors import AppError, InvalidParams, NotFound
from .extensions import db
from .models import Correction, Job, ModelVersion, User, utcnow

#: Longest side of a stored correction picture (enough to train on at any input size we use).
STORED_SIDE = 1024


class CorrectionRefused(AppError):
    """A correction that cannot be taken or decided as asked."""

    code = "correction_refused"


def pictures_dir() -> Path:
    """The folder that holds pending corrections' pictures."""
    return Path(current_app.config["CORRECTIONS_DIR"])


def picture_path(row: Correction) -> Path:
    """The stored picture of a correction (it may be gone once decided)."""
    return pictures_dir() / (row.image_name or f"{row.id}.jpg")


def _reencode(data: bytes) -> bytes:
    from ml.images import load_image

    image = load_image(data, max_pixels=int(current_app.config["UPLOAD_MAX_PIXELS"]), target=STORED_SIDE)
    image.thumbnail((STORED_SIDE, STORED_SIDE))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=90)
    return out.getvalue()


def submit(data: bytes, chosen: str, *, model_id: int | None, predicted: str | None) -> Correction:
    """Store a visitor's correction as pending: the chosen class must be one of the model's classes."""
    model = db.session.get(ModelVersion, model_id) if model_id else None
    if model is None:
        raise InvalidParams("Say which model gave the answer (model_id).", code="unknown_model")
    classes = [str(c) for c in (model.classes or [])]
    if chosen not in classes:
        raise InvalidParams(f"{chosen!r} is not one of this model's classes.", code="bad_class")
    pending = db.session.scalar(db.select(db.func.count()).select_from(Correction).filter_by(status="pending"))
    if pending >= int(current_app.config["CORRECTIONS_MAX_PENDING"]):
        raise CorrectionRefused("Too many corrections are waiting for review. Please try again later.",
                                code="queue_full", status=503)
    jpeg = _reencode(data)  # ImageError (bad picture) reaches the client with its own code
    row = Correction(model_version_id=model.id, chosen_label=chosen,
                     predicted_label=predicted if predicted in classes else None, status="pending")
    db.session.add(row)
    db.session.flush()
    row.image_name = f"{row.id}.jpg"
    folder = pictures_dir()
    folder.mkdir(parents=True, exist_ok=True)
    write_bytes_atomic(folder / row.image_name, jpeg)
    db.session.commit()
    return row


def pending(limit: int = 200) -> list[Correction]:
    """Pending corrections, oldest first."""
    query = db.select(Correction).filter_by(status="pending").order_by(Correction.created_at, Correction.id)
    return list(db.session.execute(query.limit(limit)).scalars())


def recent_decided(limit: int = 20) -> list[Correction]:
    """The latest accepted or rejected corrections, newest first."""
    query = db.select(Correction).where(Correction.status != "pending").order_by(Correction.decided_at.desc())
    return list(db.session.execute(query.limit(limit)).scalars())


def _pending_row(correction_id: int) -> Correction:
    row = db.session.get(Correction, correction_id)
    if row is None:
        raise NotFound(f"There is no correction {correction_id}.")
    if row.status != "pending":
        raise CorrectionRefused(f"Correction {correction_id} was already {row.status}.", code="already_decided")
    return row


def accept(correction_id: int, dataset: str, user: User, *, label: str | None = None) -> Correction:
    """Copy the picture into `dataset`'s class (the chosen one unless `label` overrides it); mark accepted."""
    from .datasets.edit import add_image
    from .datasets.paths import dataset_root

    row = _pending_row(correction_id)
    cls = label or row.chosen_label
    source = picture_path(row)
    if not source.is_file():
        raise CorrectionRefused(f"The picture of correction {row.id} is missing.", code="picture_missing")
    root = dataset_root(current_app.config["DATA_DIR"], dataset)
    rel = add_image(root, cls, source, f"correction-{row.id}.jpg", user=user.username, origin=f"correction {row.id}")
    row.chosen_label, row.dataset_path = cls, f"{dataset}/{rel}"
    row.status, row.decided_by_id, row.decided_at = "accepted", user.id, utcnow()
    db.session.commit()
    source.unlink(missing_ok=True)
    return row


def reject(correction_id: int, user: User) -> Correction:
    """Mark a correction rejected and delete its picture (nothing goes into a dataset)."""
    row = _pending_row(correction_id)
    row.status, row.decided_by_id, row.decided_at = "rejected", user.id, utcnow()
    db.session.commit()
    picture_path(row).unlink(missing_ok=True)
    return row


def accepted_since(dataset: str, since: datetime | None) -> int:
    """How many accepted corrections went into `dataset` after `since` (a model made then has not learnt them)."""
    query = (db.select(db.func.count()).select_from(Correction).filter_by(status="accepted")
             .where(Correction.dataset_path.startswith(f"{dataset}/", autoescape=True)))
    if since is not None:
        query = query.where(Correction.decided_at > since)
    return int(db.session.scalar(query) or 0)


def datasets_with_class(cls: str) -> list[str]:
    """Dataset names under DATA_DIR, those that have class `cls` first."""
    from .datasets.paths import dataset_names

    base = Path(current_app.config["DATA_DIR"])
    return sorted(dataset_names(base), key=lambda name: not (base / name / cls).is_dir())


#: Where `recorded_recipe` found a model's recipe: its training job's row, the metadata beside its file, nowhere.
RECIPE_FROM_JOB, RECIPE_FROM_METADATA, NO_RECIPE = "job", "metadata", "none"


def recorded_recipe(model: ModelVersion) -> tuple[dict, str]:
    """(the web-settable training settings `model` was made with, where they were found); ({}, NO_RECIPE) without.

    The training job's params say what was asked; the metadata (`ml.history.training_config`) says
    what ran. The device is never reused (a model trained on a GPU machine must retrain on a laptop
    without one): the new run picks its own. A recipe the declaration no longer accepts (an
    architecture since removed) counts as none.
    """
    from ml.history import training_config

    web = {s.name for s in TrainConfig.web_settings()}
    job = db.session.get(Job, model.job_id) if model.job_id else None
    found = [(RECIPE_FROM_JOB, job.params or {})] if job is not None and job.kind == "train" else []
    found.append((RECIPE_FROM_METADATA, {k: v for k, v in training_config(model.path).items() if k != "device"}))
    for source, settings in found:
        recipe = {k: v for k, v in settings.items() if k in web and k != "device"}
        if not recipe:
            continue
        try:
            config = TrainConfig.from_dict(recipe, web=True).validate()
        except MLError:
            continue
        return {k: getattr(config, k) for k in recipe}, source
    return {}, NO_RECIPE
