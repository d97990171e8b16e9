"""Admin panel: login, start crawl/split/train/evaluate, live jobs, model versions, queues."""

from flask import Blueprint

bp = Blueprint("admin", __name__, url_prefix="/admin")

from . import compare, corrections, model_page, routes  # noqa: E402,F401  (routes attach themselves to bp)
