"""Admin corrections queue: visitors' "wrong? tell us" pictures to accept into a class or reject; retrain."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, send_file, url_for
from flask_login import current_user

from ml.errors import MLError

from .. import corrections, tasks
from ..errors import AppError, NotFound
from ..extensions import db
from ..i18n import _
from ..models import Correction, ModelVersion
from ..redis_conn import RedisUnavailable
from ..registry import active_model
from . import bp


@bp.get("/corrections")
def corrections_queue():
    """Pending corrections with their pictures; accept, reject, or retrain with the accepted ones."""
    rows = corrections.pending()
    choices = {row.id: corrections.datasets_with_class(row.chosen_label) for row in rows}
    return render_template("admin/corrections.html", rows=rows, choices=choices,
                           decided=corrections.recent_decided(), datasets=corrections.datasets_with_class(""))


@bp.get("/corrections/<int:correction_id>/picture.jpg")
def correction_picture(correction_id: int):
    """The stored picture of a pending correction."""
    row = db.session.get(Correction, correction_id) or abort(404)
    path = corrections.picture_path(row)
    if not path.is_file():
        abort(404)
    return send_file(path, mimetype="image/jpeg", max_age=0)


@bp.post("/corrections/<int:correction_id>/accept")
def accept_correction(correction_id: int):
    """Copy the picture into the chosen dataset's class as a new picture."""
    try:
        row = corrections.accept(correction_id, request.form.get("dataset", ""), current_user,
                                 label=request.form.get("label") or None)
        flash(_("Correction accepted: the picture is now %(path)s.", path=row.dataset_path), "success")
    except AppError as exc:
        flash(exc.message, "error")
    except MLError as exc:  # UnsafePath / EditError: no such dataset or class, copy failed
        flash(_("Not accepted: %(reason)s", reason=str(exc)), "error")
    return redirect(url_for("admin.corrections_queue"))


@bp.post("/corrections/<int:correction_id>/reject")
def reject_correction(correction_id: int):
    """Reject: delete the picture, keep nothing in any dataset."""
    try:
        corrections.reject(correction_id, current_user)
        flash(_("Correction rejected."), "info")
    except AppError as exc:
        flash(exc.message, "error")
    return redirect(url_for("admin.corrections_queue"))


def _retrain_model(dataset: str) -> ModelVersion | None:
    """The model whose recipe a retrain reuses: the form's model_id, else the active model if it was trained on `dataset`."""
    from ml.evaluations import evaluation_reports

    from .model_page import dataset_of

    raw = request.form.get("model_id", "")
    if raw:
        row = db.session.get(ModelVersion, int(raw)) if raw.isdigit() else None
        if row is None:
            raise NotFound(f"There is no model version {raw!r}.")
        return row
    active = active_model()
    if active is not None and dataset_of(active, evaluation_reports(active.path)) == dataset:
        return active
    return None


@bp.post("/corrections/retrain")
def retrain_with_corrections():
    """Split the dataset again (accepted pictures join it), then train on it: two jobs, the second after the first.

    The training reuses the recipe of the model it came from (the model page, the build timeline send
    model_id; the queue page: the active model when it was trained on that dataset), else the default one.
    """
    dataset = request.form.get("dataset", "")
    try:
        model = _retrain_model(dataset)
        recipe, source = corrections.recorded_recipe(model) if model is not None else ({}, corrections.NO_RECIPE)
        split = tasks.enqueue("split", {"dataset": dataset}, current_user)
        train = tasks.enqueue("train", {"dataset": dataset, **recipe}, current_user, depends_on=split.id)
    except (AppError, RedisUnavailable) as exc:
        flash(exc.message, "error")
        return redirect(request.referrer or url_for("admin.corrections_queue"))
    ids = {"split": split.id[:8], "train": train.id[:8]}
    if source != corrections.NO_RECIPE:
        flash(_("Retraining started with the recipe of model %(name)s: split %(split)s, then train %(train)s.",
                name=model.name, **ids), "success")
    elif model is not None:
        flash(_("Retraining started with the default recipe, as model %(name)s has no recorded recipe: "
                "split %(split)s, then train %(train)s.", name=model.name, **ids), "success")
    else:
        flash(_("Retraining started with the default recipe: split %(split)s, then train %(train)s.", **ids),
              "success")
    return redirect(url_for("admin.index", _anchor="jobs"))
