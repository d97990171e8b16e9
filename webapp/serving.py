"""Prediction serving: the active model loaded lazily once per worker process, swapped when the admin activates another.

Each request reads the active model's id from the database (one indexed row); when it differs from
the loaded one the new predictor is loaded, so every gunicorn worker switches without a restart.
`ml.predict` is imported here only, and only when a prediction is first needed.
"""

from __future__ import annotations

import threading
import time
import uuid
from pathlib import Path
from typing import Any

from flask import Flask, current_app

from .errors import NoModel
from .extensions import db
from .models import ModelVersion, PredictionLog
from .registry import active_model, model_summary, register_model

_lock = threading.Lock()
_loaded: dict[str, Any] = {"key": None, "predictor": None, "model": None}


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
    return register_model(path, name=info.get("name") or "default", activate=True, **model_summary(info))


def current_predictor() -> tuple[Any, ModelVersion]:
    """The predictor of the active model (loaded on first use and after every activation); NoModel if none."""
    row = active_model() or ensure_default_model()
    if row is None:
        raise NoModel("No model has been trained yet. An administrator must train and activate one first.")
    path = Path(row.path)
    try:
        mtime = path.stat().st_mtime
    except OSError:
        from ml.predict import ModelError

        raise ModelError(f"The active model's file is missing ({path.name}).", code="model_missing") from None
    key = (row.id, str(path), mtime, current_app.config["PREDICT_BACKEND"], current_app.config["PREDICT_THREADS"])
    if _loaded["key"] != key:
        with _lock:
            if _loaded["key"] != key:
                from ml.predict import Predictor

                predictor = Predictor.load(
                    path, backend=current_app.config["PREDICT_BACKEND"], threads=current_app.config["PREDICT_THREADS"]
                )
                _loaded.update(key=key, predictor=predictor)
    return _loaded["predictor"], row


def loaded_model_id() -> int | None:
    """Id of the model version this process has loaded (None before the first prediction)."""
    return _loaded["key"][0] if _loaded["key"] else None


def predict_upload(data: bytes, *, lang: str = "en") -> dict[str, Any]:
    """Answer one uploaded picture: top-k labels with probabilities, the unknown flag, the model, the time taken."""
    predictor, row = current_predictor()
    started = time.perf_counter()
    answer = predictor.classify(data, k=int(current_app.config["PREDICT_TOP_K"]))
    top = answer.top_k
    latency_ms = (time.perf_counter() - started) * 1000.0
    predictions = [{"label": label, "probability": round(float(prob), 6),
                    "display_label": predictor.display_label(label, lang)} for label, prob in top]
    _log_prediction(row, predictions[0], latency_ms, data)
    info = predictor.info or {}
    return {
        "model": {"id": row.id, "name": row.name, "arch": row.arch or info.get("arch"), "backend": predictor.backend,
                  "accuracy": row.accuracy, "created_at": row.as_dict()["created_at"],
                  # Measured figures by kind (out_of_source, in_source, unknown) from the reports beside the model.
                  "quality": info.get("evaluations") or {}},
        "predictions": predictions,
        # null: this model carries no "none of my classes" check (made before it existed).
        "unknown": answer.unknown,
        "unknown_score": None if answer.unknown_score is None else round(answer.unknown_score, 6),
        "latency_ms": round(latency_ms, 2),
    }


def _log_prediction(row: ModelVersion, top: dict, latency_ms: float, data: bytes) -> None:
    image_path = None
    if current_app.config["LOG_PREDICTION_IMAGES"]:
        folder = Path(current_app.instance_path) / "predictions"
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / f"{uuid.uuid4().hex}.img"
        target.write_bytes(data)
        image_path = str(target)
    db.session.add(PredictionLog(model_version_id=row.id, top_label=top["label"], probability=top["probability"],
                                 latency_ms=latency_ms, image_path=image_path))
    db.session.commit()
