"""One model's page: its measured figures (out-of-source first), training curves, per-class table,
confusion matrices whose cells open the pictures behind them, its activations, and retrain with corrections."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import abort, current_app, render_template

from ml.errors import DatasetError

from .. import corrections
from ..datasets.paths import dataset_names, dataset_root
from ..extensions import db
from ..models import Job, ModelVersion
from ..registry import activation_history, list_models, rollback_target
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


def per_class_of(row: ModelVersion, reports: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per-class figures by kind (out_of_source, in_source) from the reports, else the one stored at registration."""
    per_class = {kind: r["per_class"] for kind, r in reports.items() if isinstance(r.get("per_class"), dict)}
    if "in_source" not in per_class and isinstance((row.metrics or {}).get("per_class"), dict):
        per_class["in_source"] = row.metrics["per_class"]
    return per_class


def dataset_of(row: ModelVersion, reports: dict[str, dict[str, Any]]) -> str | None:
    """The DATA_DIR dataset a model was trained on: its training job's, else its metadata's, else its test report's."""
    from ml.history import training_facts

    job = db.session.get(Job, row.job_id) if row.job_id else None
    named = (job.params or {}).get("dataset") if job is not None else None
    if isinstance(named, str) and named in dataset_names(current_app.config["DATA_DIR"]):
        return named
    root = training_facts(row.path)["dataset"].get("root")
    return (dataset_name_of({"dataset": root}) if root else None) or dataset_name_of(reports.get("in_source") or {})


@bp.get("/models/<int:model_id>")
def model_page(model_id: int):
    """Everything measured about one model version, in the order a person should read it."""
    from ml.evaluations import evaluation_reports, summarise_evaluations  # JSON reports only, no torch
    from ml.history import training_history

    row = db.session.get(ModelVersion, model_id) or abort(404)
    quality = summarise_evaluations(row.path)
    reports = evaluation_reports(row.path)
    per_class = per_class_of(row, reports)
    confusions = {kind: c for kind, c in ((k, confusion_of(r)) for k, r in reports.items()) if c}
    history = training_history(row.path)
    charts = [c for c in (chart(kind, history["epochs"], history.get("best_epoch")) for kind in CHARTS) if c] \
        if history else []
    classes = list(row.classes or []) or sorted({c for table in per_class.values() for c in table})
    dataset = dataset_of(row, reports)
    return render_template("admin/model.html", m=row, quality=quality, per_class=per_class, classes=classes,
                           history=history, charts=charts, confusions=confusions,
                           activations=activation_history(10, model_id=row.id),
                           rollback_to=rollback_target() if row.is_active else None,
                           others=[m for m in list_models() if m.id != row.id], retrain_dataset=dataset,
                           retrain_pending=corrections.accepted_since(dataset, row.created_at) if dataset else None,
                           retrain_recipe=corrections.recorded_recipe(row),
                           datasets=[] if dataset else corrections.datasets_with_class(""))
