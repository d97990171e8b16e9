"""The guided builder: a new classifier from one form, and the timeline of its build (`webapp.builds`)."""

from __future__ import annotations

from urllib.parse import quote

from flask import flash, jsonify, redirect, render_template, request, url_for
from flask_login import current_user

from ml.operations import BuildRequest, TrainConfig

from .. import builds, corrections
from ..errors import AppError
from ..extensions import db
from ..i18n import _
from ..models import ModelVersion
from ..redis_conn import RedisUnavailable
from . import bp
from .forms import form_fields

#: Class rows the form shows before any is added.
EMPTY_ROWS = 2
#: The per-class inputs of a class row: (form field, key in the row).
CLASS_FIELDS = ("name", "keywords", "zh", "en")


def _build_fields():
    """The build's own plain settings (dataset, pictures per class, skip review); classes and recipe have widgets of their own."""
    return [f for f in form_fields(BuildRequest) if f.name not in ("classes", "recipe")]


def _classes_from_form() -> list[dict]:
    """Class rows from the form's repeated inputs; a row left wholly empty is ignored."""
    columns = {key: request.form.getlist(f"class_{key}") for key in CLASS_FIELDS}
    rows = []
    for i in range(max((len(v) for v in columns.values()), default=0)):
        value = {key: (columns[key][i] if i < len(columns[key]) else "").strip() for key in CLASS_FIELDS}
        if not any(value.values()):
            continue
        display = {lang: value[lang] for lang in ("zh", "en") if value[lang]}
        rows.append({"name": value["name"], "keywords": value["keywords"], "display": display})
    return rows


def _request_from_form() -> dict:
    recipe_names = {s.name for s in TrainConfig.web_settings()}
    form = {k: v for k, v in request.form.items() if k != "csrf_token" and v != ""}
    return {"dataset": form.get("dataset", ""), "per_class": form.get("per_class", ""),
            "skip_review": form.get("skip_review", "false"), "classes": _classes_from_form(),
            "recipe": {k: v for k, v in form.items() if k in recipe_names}}


@bp.route("/build", methods=["GET", "POST"])
def build_form():
    """New classifier: class rows (name, keywords, display names), pictures per class, the recipe; one button builds it."""
    rows = [{key: "" for key in CLASS_FIELDS} for _ in range(EMPTY_ROWS)]
    if request.method == "POST":
        try:
            row = builds.create_build(_request_from_form(), current_user)
        except (AppError, RedisUnavailable) as exc:
            flash(exc.message, "error")
            sent = _classes_from_form()
            rows = [{"name": c["name"], "keywords": c["keywords"], **c["display"]} for c in sent] or rows
            return render_template("admin/build.html", fields=_build_fields(), recipe=form_fields(TrainConfig),
                                   rows=rows, form=request.form, builds=builds.recent_builds()), 400
        flash(_("Build started."), "success")
        return redirect(url_for("admin.build_page", build_id=row.id))
    return render_template("admin/build.html", fields=_build_fields(), recipe=form_fields(TrainConfig), rows=rows,
                           form={}, builds=builds.recent_builds())


def review_url(build) -> str:
    """The dataset's review page, which links back to this build's Continue when the review is done."""
    after = url_for("admin.continue_build", build_id=build.id)
    return f"{url_for('datasets.index')}{quote(build.dataset)}/review?next={quote(after)}"


@bp.get("/builds/<int:build_id>")
def build_page(build_id: int):
    """The build's timeline: each step's state, progress, counts, elapsed time and estimate; cancel, retry, continue, activate."""
    row = builds.get_build(build_id)
    pending = _corrections_since(row)
    model = db.session.get(ModelVersion, row.model_id) if pending else None
    return render_template("admin/build_timeline.html", build=row, view=builds.build_view(row),
                           review_url=review_url(row), retrain_pending=pending,
                           retrain_recipe=corrections.recorded_recipe(model) if model is not None else ({}, ""))


def _corrections_since(build) -> int:
    """Accepted corrections in the build's dataset that its activated model has not learnt (0 before activation)."""
    activate = next(s for s in build.steps if s["name"] == "activate")
    model = db.session.get(ModelVersion, build.model_id) if build.model_id else None
    if activate["status"] != "finished" or model is None:
        return 0
    return corrections.accepted_since(build.dataset, model.created_at)


@bp.get("/builds/<int:build_id>/state")
def build_json(build_id: int):
    """The build as the timeline polls it."""
    return jsonify(build=builds.build_view(builds.get_build(build_id)))


def _act(action, build_id: int, done: str):
    try:
        action(build_id)
        flash(done, "info")
    except (AppError, RedisUnavailable) as exc:
        flash(exc.message, "error")
    return redirect(url_for("admin.build_page", build_id=build_id))


@bp.post("/builds/<int:build_id>/cancel")
def cancel_build(build_id: int):
    """Stop the build at its current step."""
    return _act(builds.cancel, build_id, _("Cancel requested."))


@bp.post("/builds/<int:build_id>/retry")
def retry_build(build_id: int):
    """Run the failed or cancelled step again, keeping what finished."""
    return _act(builds.retry, build_id, _("The step runs again."))


@bp.route("/builds/<int:build_id>/continue", methods=["GET", "POST"])
def continue_build(build_id: int):
    """After the review: split and train (POST); a GET (the review page's Continue link) shows the timeline's button."""
    if request.method == "GET":
        # "Done reviewing" (a POST of its own) comes here: the build has seen it and gone on, or says what to press
        row = builds.get_build(build_id)
        review = next(s for s in row.steps if s["name"] == "review")
        if review["status"] == "finished":
            flash(_("Review done: the build goes on."), "success")
        elif review["status"] == "waiting":
            flash(_('The review is not marked done: press "Continue: split and train" when it is.'), "info")
        return redirect(url_for("admin.build_page", build_id=build_id, _anchor="step-review"))
    return _act(builds.continue_after_review, build_id, _("Review done: the build goes on."))


@bp.post("/builds/<int:build_id>/activate")
def activate_build(build_id: int):
    """Make the build's model the one that answers predictions (after its evaluation)."""
    return _act(lambda i: builds.confirm_activation(i, via="admin", user=current_user), build_id,
                _("The new model is active."))
