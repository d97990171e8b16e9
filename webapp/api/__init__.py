"""JSON API under /api/v1: public prediction and models; admin-only jobs and activation."""

from flask import Blueprint

bp = Blueprint("api", __name__, url_prefix="/api/v1")

from . import routes  # noqa: E402,F401  (routes attach themselves to bp)
