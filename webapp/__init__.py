"""Flask application factory for the animal classifier."""

from __future__ import annotations

from typing import Any, Mapping

from flask import Flask

from . import i18n
from .config import load_config


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the app: defaults, then instance/config.py, then ANIMALS_* env vars, then `config`."""
    app = Flask(__name__, instance_relative_config=True)
    load_config(app, config)
    i18n.init_app(app)
    register_blueprints(app)
    register_errorhandlers(app)
    register_commands(app)
    return app


def register_blueprints(app: Flask) -> None:
    from .health import bp as health_bp

    app.register_blueprint(health_bp)
    from .predict import bp as predict_bp

    app.register_blueprint(predict_bp)
    from .datasets import bp as datasets_bp

    app.register_blueprint(datasets_bp)


def register_errorhandlers(app: Flask) -> None:
    from .errors import init_app

    init_app(app)


def register_commands(app: Flask) -> None:
    from .cli import init_app

    init_app(app)
