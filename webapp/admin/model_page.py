"""One model's page: its measured figures (out-of-source first), training curves, per-class table."""

from __future__ import annotations

from flask import abort, render_template

from ..extensions import db
from ..models import ModelVersion
from . import bp
from .curves import CHARTS, chart


@bp.get("/models/<int:model_id>")
def model_page(model_id: int):
    """Everything measured about one model version, in the order a person should read it."""
    from ml.evaluations import per_class_by_kind, summarise_evaluations  # JSON reports only, no torch
    from ml.history import training_history

    row = db.session.get(ModelVersion, model_id) or abort(404)
    quality = summarise_evaluations(row.path)
    per_class = per_class_by_kind(row.path)
    if "in_source" not in per_class and isinstance((row.metrics or {}).get("per_class"), dict):
        per_class["in_source"] = row.metrics["per_class"]  # the figure stored at registration
    history = training_history(row.path)
    charts = [c for c in (chart(kind, history["epochs"], history.get("best_epoch")) for kind in CHARTS) if c] \
        if history else []
    classes = list(row.classes or []) or sorted({c for table in per_class.values() for c in table})
    return render_template("admin/model.html", m=row, quality=quality, per_class=per_class, classes=classes,
                           history=history, charts=charts)
