"""API routes. Errors are JSON `{"error": {"code", "message"}}` (see webapp.errors)."""

from __future__ import annotations

from flask import current_app, jsonify, request
from flask_login import current_user

from .. import tasks
from ..auth import admin_required
from ..errors import AppError, InvalidParams
from ..extensions import csrf, limiter
from ..i18n import get_language
from ..registry import activate_model, activation_history, list_models, roll_back
from ..serving import predict_upload
from . import bp
from .openapi import openapi_document


def _predict_limit() -> str:
    return current_app.config["RATELIMIT_PREDICT"]


def _explain_limit() -> str:
    return current_app.config["RATELIMIT_EXPLAIN"]


def _corrections_limit() -> str:
    return current_app.config["RATELIMIT_CORRECTIONS"]


def _uploaded_picture() -> bytes:
    """The bytes of the multipart field `file`; a clear error when it is missing or empty."""
    upload = request.files.get("file")
    if upload is None:
        raise AppError("Send the picture as the multipart form field 'file'.", code="no_file")
    data = upload.read()
    if not data:
        raise AppError("The file is empty.", code="empty")
    return data


@bp.post("/predict")
@csrf.exempt
@limiter.limit(_predict_limit)
def predict():
    """Classify the picture in the multipart field `file`."""
    data = _uploaded_picture()
    return jsonify(predict_upload(data, lang=get_language()))


@bp.post("/explain")
@csrf.exempt
@limiter.limit(_explain_limit)
def explain():
    """Why this answer: the Grad-CAM heat map over the picture in `file`, for `class_index` (default: the top answer)."""
    from ..explaining import explain_upload, parse_class_index

    data = _uploaded_picture()
    class_index = parse_class_index(request.form.get("class_index"))
    return jsonify(explain_upload(data, class_index, lang=get_language()))


@bp.post("/corrections")
@csrf.exempt
@limiter.limit(_corrections_limit)
def correction():
    """A visitor's "wrong? tell us": multipart `file` (the picture again), `label` (the right class), `model_id`, `predicted`."""
    from ..corrections import submit

    data = _uploaded_picture()
    try:
        model_id = int(request.form.get("model_id", ""))
    except ValueError:
        raise InvalidParams("Say which model gave the answer (model_id).", code="unknown_model") from None
    row = submit(data, request.form.get("label", "").strip(), model_id=model_id,
                 predicted=request.form.get("predicted") or None)
    return jsonify(correction={"id": row.id, "status": row.status, "chosen": row.chosen_label}), 201


@bp.get("/models")
def models():
    """Every model version, newest first, with which one is active (all fields for administrators)."""
    if current_user.is_authenticated:
        return jsonify(models=[m.as_dict() for m in list_models()])
    return jsonify(models=[m.public_dict() for m in list_models()])


@bp.post("/models/<int:model_id>/activate")
@admin_required
def activate(model_id: int):
    """Make a model version the one that answers predictions."""
    return jsonify(model=activate_model(model_id, via="api", user=current_user).as_dict())


@bp.post("/models/rollback")
@admin_required
def rollback():
    """Activate again the model the last activation replaced (409 nothing_to_roll_back when there is none)."""
    return jsonify(model=roll_back(user=current_user).as_dict())


@bp.get("/models/activations")
@admin_required
def activations():
    """The activation history, newest first: model, the one it replaced, who, how, when."""
    return jsonify(activations=[a.as_dict() for a in activation_history(min(request.args.get("limit", 50, type=int), 500))])


def _body() -> dict:
    data = request.get_json(silent=True)
    if data is None:
        data = request.form.to_dict()
    if not isinstance(data, dict):
        raise InvalidParams("Send a JSON object.")
    return data


@bp.get("/jobs")
@admin_required
def jobs():
    """The newest jobs with status and progress."""
    return jsonify(jobs=[j.as_dict() for j in tasks.recent_jobs(int(request.args.get("limit", 50)))])


@bp.post("/jobs")
@admin_required
def start_job():
    """Start a job: `{"kind": "crawl"|"crawl_classes"|"split"|"train"|"evaluate"|"review", "params": {...}}`."""
    body = _body()
    row = tasks.enqueue(str(body.get("kind", "")), body.get("params") or {}, current_user)
    return jsonify(job=row.as_dict()), 202


@bp.get("/jobs/<job_id>")
@admin_required
def job(job_id: str):
    """One job: status, progress, result or error with traceback, log tail."""
    return jsonify(job=tasks.get_job(job_id).as_dict())


@bp.post("/jobs/<job_id>/cancel")
@admin_required
def cancel_job(job_id: str):
    """Cancel a queued job, or ask a running one to stop."""
    return jsonify(job=tasks.cancel(job_id).as_dict())


@bp.post("/jobs/<job_id>/retry")
@admin_required
def retry_job(job_id: str):
    """Run a failed or cancelled job again (new id)."""
    return jsonify(job=tasks.retry(job_id, current_user).as_dict()), 202


@bp.post("/builds")
@admin_required
def start_build():
    """Start a guided build: `{"dataset", "classes": [{"name", "keywords", "display"}], "per_class", "skip_review", "recipe"}`."""
    from .. import builds

    row = builds.create_build(_body(), current_user)
    return jsonify(build=builds.build_view(row)), 202


@bp.get("/builds/<int:build_id>")
@admin_required
def build(build_id: int):
    """One build: its status and each step's state, progress, counts, elapsed time and estimate."""
    from .. import builds

    return jsonify(build=builds.build_view(builds.get_build(build_id)))


def _build_action(action, build_id: int):
    from .. import builds

    return jsonify(build=builds.build_view(action(build_id)))


@bp.post("/builds/<int:build_id>/cancel")
@admin_required
def cancel_build(build_id: int):
    """Stop the build at its current step."""
    from .. import builds

    return _build_action(builds.cancel, build_id)


@bp.post("/builds/<int:build_id>/retry")
@admin_required
def retry_build(build_id: int):
    """Run the build's failed or cancelled step again, keeping what finished."""
    from .. import builds

    return _build_action(builds.retry, build_id)


@bp.post("/builds/<int:build_id>/continue")
@admin_required
def continue_build(build_id: int):
    """The review is done: split again and train."""
    from .. import builds

    return _build_action(builds.continue_after_review, build_id)


@bp.post("/builds/<int:build_id>/activate")
@admin_required
def activate_build(build_id: int):
    """Make the build's evaluated model the active one."""
    from .. import builds

    return _build_action(lambda i: builds.confirm_activation(i, via="api", user=current_user), build_id)


@bp.get("/queues")
@admin_required
def queues():
    """Queue lengths and live workers."""
    return jsonify(tasks.queue_status())


@bp.get("/openapi.json")
def openapi():
    """The OpenAPI 3.1 description of this API."""
    return jsonify(openapi_document())
