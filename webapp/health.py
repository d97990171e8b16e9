"""Liveness endpoint: answers as long as the process serves requests."""

from flask import Blueprint, jsonify

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    """Process is up (no dependency checks; see /readyz for those)."""
    return jsonify(status="ok")
