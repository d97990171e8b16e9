"""Liveness (/healthz: the process answers) and readiness (/readyz: model loaded, Redis and DB reachable, DB migrated).

Anyone may ask /readyz, so its public answer is the status alone; what failed and why (error text
that may name hosts) goes to the log, and to logged-in administrators.
"""

from __future__ import annotations

import logging

from flask import Blueprint, jsonify
from flask_login import current_user

bp = Blueprint("health", __name__)
log = logging.getLogger(__name__)


@bp.get("/healthz")
def healthz():
    """Process is up (no dependency checks; see /readyz for those)."""
    return jsonify(status="ok")


def _check(fn) -> dict:
    try:
        detail = fn()
    except Exception as exc:  # each failing dependency is reported, not raised
        return {"ok": False, "code": getattr(exc, "code", type(exc).__name__), "message": getattr(exc, "message", str(exc))}
    return {"ok": True, **(detail or {})}


def _database() -> dict:
    from flask import current_app

    from .extensions import db
    from .schema import require_migrated

    db.session.execute(db.text("SELECT 1"))
    require_migrated(current_app)
    return {}


def _redis() -> dict:
    from .redis_conn import ping

    ping()
    return {}


def _model() -> dict:
    from .serving import current_predictor

    predictor, row = current_predictor()
    return {"id": row.id, "name": row.name, "backend": predictor.backend}


@bp.get("/readyz")
def readyz():
    """Ready to serve: database and Redis answer and the active model is loaded (503 otherwise)."""
    checks = {"database": _check(_database), "redis": _check(_redis)}
    checks["model"] = _check(_model) if checks["database"]["ok"] else {"ok": False, "code": "database_unavailable"}
    ready = all(c["ok"] for c in checks.values())
    status = 200 if ready else 503
    if not ready:
        failed = {name: c for name, c in checks.items() if not c["ok"]}
        log.warning("not ready: %s", "; ".join(f"{n}: {c.get('code')} {c.get('message', '')}" for n, c in failed.items()))
    if current_user.is_authenticated:
        return jsonify(status="ready" if ready else "not_ready", checks=checks), status
    return jsonify(status="ready" if ready else "not_ready"), status
