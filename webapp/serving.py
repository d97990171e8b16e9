"""Prediction serving: the active model loaded lazily once per worker process, swapped when the admin activates another.

Which model is active is read from the database at most every ACTIVE_MODEL_TTL seconds per
process (a plain snapshot of the row, kept per app); the process that activates a model forgets
its snapshot at once, every other worker switches within the TTL, without a restart. The loaded
model itself comes from `ml.predict.Predictor.load`, the one predictor cache (keyed on the files'
times and sizes, so a file replaced in place is loaded again). Uploads are
decoded with the public pixel limit (UPLOAD_MAX_PIXELS) and only to the size the model needs;
the prediction log is written in batches off the request path (`webapp.predlog`).
`ml.predict` is imported here only, and only when a prediction is first needed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flask import Flask, current_app

from . import predlog
from .errors import NoModel
from .models import ModelVersion, iso, utcnow
from .registry import active_model, model_summary, register_model
from .serving_state import forget_active_model, serving_state


@dataclass(frozen=True)
class ActiveModel:
    """What serving needs to know about the active model version (a detached copy of its row)."""

    id: int
    name: str
    path: str
    arch: str | None
    accuracy: float | None
    created_at: str | None

    @classmethod
    def of(cls, row: ModelVersion) -> ActiveModel:
        return cls(id=row.id, name=row.name, path=row.path, arch=row.arch, accuracy=row.accuracy,
                   created_at=iso(row.created_at))


def ensure_default_model(app: Flask | None = None) -> ModelVersion | None:
    """Register (and activate) the shipped DEFAULT_MODEL when no model is active yet and the file exists."""
    app = app or current_app
    current = active_model()
    if current is not None:
        return current
    path = Path(app.config.get("DEFAULT_MODEL") or "")
    if not path.is_file():
        return None
    from ml.predict import Predictor

    predictor = Predictor.load(path, backend=app.config["PREDICT_BACKEND"], threads=app.config["PREDICT_THREADS"])
    info = dict(predictor.info or {})
    info.setdefault("classes", predictor.classes)
    return register_model(path, name=info.get("name") or "default", activate=True, via="default", **model_summary(info))


def active_snapshot() -> ActiveModel:
    """The active model version, from this process's snapshot when it is younger than ACTIVE_MODEL_TTL."""
    state = serving_state(current_app)
    now = time.monotonic()
    if state["active"] is None or now - state["checked"] >= float(current_app.config["ACTIVE_MODEL_TTL"]):
        row = active_model() or ensure_default_model()
        if row is None:
            state["active"] = None
            raise NoModel("No model has been trained yet. An administrator must train and activate one first.")
        state["active"], state["checked"] = ActiveModel.of(row), now
    return state["active"]


def current_predictor() -> tuple[Any, ActiveModel]:
    """The predictor of the active model (loaded on first use, after every activation, when its file changes); NoModel if none."""
    from ml.predict import ModelError, Predictor

    active = active_snapshot()
    config = current_app.config
    if not Path(active.path).is_file():
        forget_active_model()  # look again on the next request: the file may be back
        raise ModelError(f"The active model's file is missing ({Path(active.path).name}).", code="model_missing")
    return Predictor.load(active.path, backend=config["PREDICT_BACKEND"], threads=config["PREDICT_THREADS"]), active


def decode_upload(data: bytes, size: int):
    """An uploaded picture decoded for a model of input `size`, within the public pixel limit."""
    from ml.images import load_image

    return load_image(data, max_pixels=int(current_app.config["UPLOAD_MAX_PIXELS"]), target=size)


def predict_upload(data: bytes, *, lang: str = "en") -> dict[str, Any]:
    """Answer one uploaded picture: top-k labels with probabilities, the unknown flag, the model, the time taken."""
    predictor, active = current_predictor()
    started = time.perf_counter()
    image = decode_upload(data, predictor.size)
    answer = predictor.classify(image, k=int(current_app.config["PREDICT_TOP_K"]))
    top = answer.top_k
    latency_ms = (time.perf_counter() - started) * 1000.0
    predictions = [{"label": label, "probability": round(float(prob), 6),
                    "display_label": predictor.display_label(label, lang)} for label, prob in top]
    row = {"model_version_id": active.id, "top_label": predictions[0]["label"],
           "probability": predictions[0]["probability"], "latency_ms": latency_ms, "created_at": utcnow()}
    if current_app.config["LOG_PREDICTION_IMAGES"]:
        row["image_bytes"] = data
    predlog.writer(current_app._get_current_object()).add(row)
    return {
        "model": {"id": active.id, "name": active.name, "arch": active.arch or (predictor.info or {}).get("arch"),
                  "backend": predictor.backend, "accuracy": active.accuracy, "created_at": active.created_at,
                  # Measured figures by kind (out_of_source, in_source, unknown) from the reports beside the model.
                  "quality": (predictor.info or {}).get("evaluations") or {},
                  # Every class, for "wrong? tell us" to offer.
                  "classes": [{"label": c, "display_label": predictor.display_label(c, lang)} for c in predictor.classes]},
        "predictions": predictions,
        # null: this model carries no "none of my classes" check (made before it existed).
        "unknown": answer.unknown,
        "unknown_score": None if answer.unknown_score is None else round(answer.unknown_score, 6),
        "latency_ms": round(latency_ms, 2),
    }
