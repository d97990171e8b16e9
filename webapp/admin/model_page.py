"""One model's page: its measured figures (out-of-source first), training curves, per-class table,
and confusion matrices whose cells open the pictures behind them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import abort, current_app, render_template

from ml.errors import DatasetError

from ..datasets.paths import dataset_root
from ..extensions import db
from ..models import ModelVersion
from . import bp
from .curves import CHARTS, chart


def dataset_name_of(report: dict[str, Any]) -> str | None:
    """The dataset page name of the folder a report scored, when that folder is one of DATA_DIR's datasets."""
    scored = report.get("dataset")
    if not isinstance(scored, str) or not scored:
        return None
    data_dir = Path(current_app.config["DATA_DIR"])
    try:
        root = dataset_root(data_dir, Path(scored).name)
        return root.name if root.resolve() == Path(scored).resolve() else None
    except (DatasetError, OSError):
        return None


def confusion_of(report: dict[str, Any]) -> dict[str, Any] | None:
    """A report's confusion matrix (rows: true class, columns: predicted) and where its pictures are."""
    classes, matrix = report.get("classes"), report.get("confusion")
    if not isinstance(classes, list) or not isinstance(matrix, list) or len(matrix) != len(classes):
        return None
    return {"classes": classes, "rows": matrix, "dataset": dataset_name_of(report), "part": report.get("part")}


@bp.get("/models/<int:model_id>")
def model_page(model_id: int):
    """Everything measured about one model version, in the order a person should read it."""
    from ml.evaluations import evaluation_reports, summarise_evaluations  # JSON reports only, no torch
    from ml.history import training_history

    row = db.session.get(ModelVersion, model_id) or abort(404)
    quality = summarise_evaluations(row.path)
    reports = evaluation_reports(row.path)
    per_class = {kind: r["per_class"] for kind, r in reports.items() if isinstance(r.get("per_class"), dict)}
    if "in_source" not in per_class and isinstance((row.metrics or {}).get("per_class"), dict):
        per_class["in_source"] = row.metrics["per_class"]  # the figure stored at registration
    confusions = {kind: c for kind, c in ((k, confusion_of(r)) for k, r in reports.items()) if c}
    history = training_history(row.path)
    charts = [c for c in (chart(kind, history["epochs"], history.get("best_epoch")) for kind in CHARTS) if c] \
        if history else []
    classes = list(row.classes or []) or sorted({c for table in per_class.values() for c in table})
    return render_template("admin/model.html", m=row, quality=quality, per_class=per_class, classes=classes,
                           history=history, charts=charts, confusions=confusions)
