"""Public recognition page: anyone uploads a photo and sees the model's top guesses."""

from flask import Blueprint

bp = Blueprint("predict", __name__)

from . import routes  # noqa: E402,F401  (routes attach themselves to bp)
