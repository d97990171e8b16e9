"""Dataset browsing: datasets, per-class counts, thumbnail grids, image detail, admin edits."""

from flask import Blueprint

bp = Blueprint("datasets", __name__, url_prefix="/datasets")

from . import bulk, review, routes  # noqa: E402,F401  (routes attach themselves to bp)
