"""Error handlers that answer JSON to API clients and a short page to browsers."""

from __future__ import annotations

from flask import Flask, jsonify, request
from werkzeug.exceptions import HTTPException


def wants_json() -> bool:
    """True for API paths and clients that prefer JSON over HTML."""
    if request.path.startswith("/api/") or request.path in ("/healthz", "/readyz"):
        return True
    best = request.accept_mimetypes.best_match(["application/json", "text/html"])
    return best == "application/json"


def _http_error(exc: HTTPException):
    code = (exc.name or "error").lower().replace(" ", "_")
    if wants_json():
        return jsonify(error={"code": code, "message": exc.description}), exc.code
    return f"<h1>{exc.code} {exc.name}</h1><p>{exc.description}</p>", exc.code


def init_app(app: Flask) -> None:
    """Register the handlers on `app`."""
    app.register_error_handler(HTTPException, _http_error)
