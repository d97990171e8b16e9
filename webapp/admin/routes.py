"""Admin pages. Every route but login refuses anonymous users; every form carries a CSRF token."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import redis
from flask import abort, current_app, flash, redirect, render_template, request, send_file, url_for
from flask_login import current_user, login_user, logout_user
from werkzeug.exceptions import TooManyRequests

from .. import tasks
from ..auth import _unauthorized, authenticate, login_name_key
from ..datasets.paths import dataset_names
from ..errors import AppError, redis_down_message, wants_json
from ..extensions import db, limiter
from ..i18n import _
from ..models import ModelVersion
from ..redis_conn import RedisUnavailable
from ..registry import NothingToRollBack, activate_model, activation_history, list_models, roll_back, rollback_target
from . import bp
from .forms import form_fields

PUBLIC_ENDPOINTS = {"admin.login"}


@bp.before_request
def require_admin():
    """Anonymous users get the login page (browsers) or 401 JSON (scripts)."""
    if request.endpoint not in PUBLIC_ENDPOINTS and not current_user.is_authenticated:
        return _unauthorized()
    return None


def _safe_next(target: str | None) -> str:
    parts = urlsplit(target or "")
    if target and not parts.scheme and not parts.netloc and target.startswith("/"):
        return target
    return url_for("admin.index")


def _failed_login(response) -> bool:
    return response.status_code == 401


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(lambda: current_app.config["RATELIMIT_LOGIN_IP"], methods=["POST"], deduct_when=_failed_login)
@limiter.limit(lambda: current_app.config["RATELIMIT_LOGIN_USER"], methods=["POST"], deduct_when=_failed_login,
               key_func=login_name_key)
def login():
    """Log in with an administrator's name and password."""
    if request.method == "POST":
        user = authenticate(request.form.get("username", ""), request.form.get("password", ""))
        if user is None:
            flash(_("Wrong user name or password."), "error")
            return render_template("admin/login.html", username=request.form.get("username", "")), 401
        login_user(user, remember=bool(request.form.get("remember")))
        return redirect(_safe_next(request.args.get("next")))
    return render_template("admin/login.html", username="")


@bp.errorhandler(TooManyRequests)
def login_throttled(exc: TooManyRequests):
    """Too many failed logins for this name or from this address: say so on the login page (429)."""
    message = _("Too many failed logins for this user name or from this address. Please wait a few minutes "
                "and try again.")
    if wants_json():
        from ..errors import error_response

        return error_response("login_throttled", message, 429)
    flash(message, "error")
    return render_template("admin/login.html", username=request.form.get("username", "")), 429


@bp.post("/logout")
def logout():
    """End the admin session."""
    logout_user()
    flash(_("You are logged out."), "info")
    return redirect(url_for("admin.login"))


@bp.get("/")
def index():
    """Dashboard: start jobs, watch them, see queues and workers."""
    datasets = dataset_names(current_app.config["DATA_DIR"])
    try:
        jobs = tasks.recent_jobs(30)
        status, redis_error = tasks.queue_status(), None
    except (RedisUnavailable, redis.RedisError) as exc:
        db.session.rollback()  # a reconcile cut short by Redis must not leave half an update behind
        jobs, status, redis_error = tasks.recent_jobs(30, reconciled=False), {"queues": [], "workers": []}, redis_down_message(exc)
    return render_template("admin/index.html", jobs=jobs, status=status, redis_error=redis_error, datasets=datasets,
                           models=list_models(), kinds=tasks.KINDS,
                           forms={kind: form_fields(spec.config) for kind, spec in tasks.KINDS.items()})


@bp.post("/jobs/start/<kind>")
def start_job(kind: str):
    """Start a job from one of the dashboard forms."""
    params = {k: v for k, v in request.form.items() if k != "csrf_token" and v != ""}
    try:
        row = tasks.enqueue(kind, params, current_user)
    except (AppError, RedisUnavailable) as exc:
        flash(exc.message, "error")
        return redirect(url_for("admin.index"))
    flash(_("Job started: %(kind)s", kind=row.kind), "success")
    return redirect(url_for("admin.index", _anchor="jobs"))


@bp.get("/jobs/<job_id>")
def job(job_id: str):
    """One job: parameters, progress, log tail, error and traceback."""
    return render_template("admin/job.html", job=tasks.get_job(job_id))


@bp.post("/jobs/<job_id>/cancel")
def cancel_job(job_id: str):
    """Cancel a queued or running job."""
    try:
        tasks.cancel(job_id)
        flash(_("Cancel requested."), "info")
    except AppError as exc:
        flash(exc.message, "error")
    return redirect(request.referrer or url_for("admin.index"))


@bp.post("/jobs/<job_id>/retry")
def retry_job(job_id: str):
    """Run a failed or cancelled job again."""
    try:
        row = tasks.retry(job_id, current_user)
        flash(_("Job started: %(kind)s", kind=row.kind), "success")
    except (AppError, RedisUnavailable) as exc:
        flash(exc.message, "error")
    return redirect(url_for("admin.index", _anchor="jobs"))


@bp.get("/models")
def models():
    """Model versions with accuracy, per-class metrics, Activate, two to compare, and the activation history."""
    from ml.evaluations import summarise_evaluations  # reads JSON reports only, no torch

    rows = list_models()
    active = next((m for m in rows if m.is_active), None)
    other = next((m for m in rows if m is not active), None)
    return render_template("admin/models.html", models=rows,
                           quality={m.id: summarise_evaluations(m.path) for m in rows},
                           history=activation_history(20), rollback_to=rollback_target(),
                           pick_a=active or other, pick_b=other if active else next(iter(rows[1:2]), None))


@bp.post("/models/<int:model_id>/activate")
def activate(model_id: int):
    """Make this model answer predictions from the next request on."""
    try:
        row = activate_model(model_id, via="admin", user=current_user)
        flash(_("Model %(name)s is now active.", name=row.name), "success")
    except AppError as exc:
        flash(exc.message, "error")
    return redirect(_safe_next(request.form.get("next")) if request.form.get("next") else url_for("admin.models"))


@bp.post("/models/rollback")
def rollback():
    """Activate again the model the last activation replaced."""
    try:
        row = roll_back(user=current_user)
        flash(_("Rolled back: model %(name)s is active again.", name=row.name), "success")
    except NothingToRollBack:
        flash(_("There is no earlier model to roll back to."), "error")
    except AppError as exc:
        flash(exc.message, "error")
    return redirect(_safe_next(request.form.get("next")) if request.form.get("next") else url_for("admin.models"))


@bp.get("/models/<int:model_id>/confusion.png")
def confusion(model_id: int):
    """The confusion matrix picture evaluation wrote beside the model file."""
    row = db.session.get(ModelVersion, model_id) or abort(404)
    path = Path(row.path)
    picture = path.with_name(path.stem + ".confusion.png")
    if not picture.is_file():
        abort(404)
    return send_file(picture, mimetype="image/png", max_age=0)
