"""Errors as the client asked for them: JSON `{"error": {"code", "message"}}` for API clients, a page for browsers.

Codes are stable (clients and the page script switch on them); messages are for people.
"""

from __future__ import annotations

import logging

import redis
from flask import Flask, flash, jsonify, redirect, render_template, request
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from ml.errors import MLError

from .i18n import N_
from .logmask import mask_secrets
from .redis_conn import RedisUnavailable

log = logging.getLogger(__name__)

#: HTTP status → stable code for errors raised by Flask/Werkzeug themselves.
HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "file_too_large",
    429: "rate_limited",
    500: "internal_error",
    503: "unavailable",
}
#: ml error code → HTTP status (a person's bad input is 4xx, a missing/broken model is 503).
ML_STATUS = {
    "model_missing": 503,
    "model_corrupt": 503,
    "model_incompatible": 503,
    "cancelled": 409,
    "unsupported_format": 415,
    "needs_torch": 501,  # a heat map asked of an install without torch (ml.explain)
    "busy": 503,  # the heat map before this one held the model longer than EXPLAIN_WAIT_S
}
#: The banner admin pages show while Redis is unreachable (translated where it is shown).
REDIS_DOWN = N_("Redis (the job queue) cannot be reached: background jobs cannot be started, cancelled or "
                "watched until it is back. Everything else keeps working.")


class AppError(Exception):
    """An error the web layer reports to a person, with a stable code and an HTTP status."""

    status = 400
    code = "bad_request"

    def __init__(self, message: str, *, code: str | None = None, status: int | None = None):
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        if status:
            self.status = status


class InvalidParams(AppError):
    """A form or JSON body has a missing or out-of-range value."""

    code = "invalid_params"


class NotFound(AppError):
    status = 404
    code = "not_found"


class Conflict(AppError):
    """The action does not fit the object's state (cancel a finished job...)."""

    status = 409
    code = "conflict"


class NoModel(AppError):
    """No model is active yet: an administrator has to train and activate one."""

    status = 503
    code = "no_model"


def wants_json() -> bool:
    """True for API paths and clients that prefer JSON over HTML."""
    if request.path.startswith("/api/") or request.path in ("/healthz", "/readyz") or request.path.endswith(".json"):
        return True
    best = request.accept_mimetypes.best_match(["application/json", "text/html"])
    return best == "application/json" and request.accept_mimetypes[best] > request.accept_mimetypes["text/html"]


def error_response(code: str, message: str, status: int):
    """The one place error bodies are built."""
    if wants_json():
        return jsonify(error={"code": code, "message": message}), status
    return render_template("error.html", code=code, message=message, status=status), status


def _http_error(exc: HTTPException):
    status = exc.code or 500
    code = HTTP_CODES.get(status) or (exc.name or "error").lower().replace(" ", "_")
    message = exc.description or exc.name
    if status == 413:
        from flask import current_app

        limit = current_app.config.get("MAX_CONTENT_LENGTH") or 0
        message = f"The upload is too large; the limit is {limit / 1024 / 1024:g} MB."
    elif status == 429:
        message = f"Too many requests ({exc.description}). Please wait a moment and try again."
    return error_response(code, message, status)


def _csrf_error(exc: CSRFError):
    return error_response("csrf_failed", f"The form expired or did not come from this site ({exc.description}). "
                          "Reload the page and try again.", 400)


def _app_error(exc: AppError):
    return error_response(exc.code, exc.message, exc.status)


def _ml_error(exc: MLError):
    return error_response(exc.code, exc.message, ML_STATUS.get(exc.code, 400))


def redis_down_message(exc: Exception) -> str:
    """What went wrong with Redis, password masked, for logs and administrators."""
    return exc.message if isinstance(exc, RedisUnavailable) else mask_secrets(f"Redis is unreachable ({exc}).")


def _redis_error(exc: Exception):
    """The one handler for Redis failures (ours or redis-py's): 503 JSON for the API, a banner for pages."""
    from .i18n import gettext

    detail = redis_down_message(exc)
    log.warning("redis unavailable on %s %s: %s", request.method, request.path, detail)
    if wants_json():
        return error_response("redis_unavailable", detail, 503)
    if request.method == "POST":
        # A form (cancel, retry, start): go back to where it came from, with the banner on top.
        flash(gettext(REDIS_DOWN), "error")
        target = request.referrer if _same_site(request.referrer) else "/admin/"
        return redirect(target)
    return render_template("redis_down.html", message=gettext(REDIS_DOWN), detail=detail), 503


def _same_site(url: str | None) -> bool:
    from urllib.parse import urlsplit

    return bool(url) and urlsplit(url).netloc == request.host


def _unexpected(exc: Exception):
    log.exception("unhandled error on %s %s", request.method, request.path)
    return error_response("internal_error", "Something went wrong on the server; the error was logged.", 500)


#: Bytes read per chunk when draining an upload the app answered without reading.
DRAIN_CHUNK = 256 * 1024
#: A body at most this much over MAX_CONTENT_LENGTH is still read (and dropped) after its 413, so
#: the client (or nginx, which allows 1 MB more) gets the JSON answer instead of a reset; larger
#: bodies are not read at all.
DRAIN_OVER_LIMIT = 2 * 1024 * 1024


def _drain_unread_upload(response):
    """Read the rest of an upload answered early (429, 413, 400...), so the client gets the answer, not a reset.

    gunicorn drains at most 64 KB of an unread body and then closes the socket with the rest
    still unread, which makes the kernel reset the connection: a client still sending its photo
    (or nginx passing it on) then loses the answer it was sent and shows a 502. A body more than
    DRAIN_OVER_LIMIT above MAX_CONTENT_LENGTH is left unread.
    """
    length = request.content_length or 0
    limit = request.max_content_length
    if response.status_code < 400 or not length:
        return response
    try:
        if limit is None or length <= limit:
            while request.stream.read(DRAIN_CHUNK):
                pass
        elif length <= limit + DRAIN_OVER_LIMIT:
            # request.stream refuses bodies over the limit; read the raw input, at most `length` bytes.
            raw, left = request.environ["wsgi.input"], length
            while left > 0:
                chunk = raw.read(min(DRAIN_CHUNK, left))
                if not chunk:
                    break
                left -= len(chunk)
    except Exception:  # the client went away: nothing left to protect
        pass
    return response


def init_app(app: Flask) -> None:
    """Register the handlers on `app`."""
    app.after_request(_drain_unread_upload)
    app.register_error_handler(CSRFError, _csrf_error)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(AppError, _app_error)
    app.register_error_handler(MLError, _ml_error)
    app.register_error_handler(RedisUnavailable, _redis_error)
    app.register_error_handler(redis.RedisError, _redis_error)
    if not app.testing:
        app.register_error_handler(Exception, _unexpected)
