"""Flask application factory for the animal classifier."""

from __future__ import annotations

import io
import os
from collections.abc import Mapping
from typing import Any

from flask import Flask, Request

from . import i18n, logmask, security
from .config import instance_path, load_config


class UploadRequest(Request):
    """Requests whose uploads stay in memory (they are capped by MAX_CONTENT_LENGTH) instead of a temporary file."""

    def _get_file_stream(self, total_content_length, content_type, filename=None, content_length=None):
        return io.BytesIO()


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the app: defaults, then instance/config.py, then environment, then `config`."""
    logmask.install()
    app = Flask(__name__, instance_relative_config=True, instance_path=instance_path(config))
    app.request_class = UploadRequest
    load_config(app, config)
    register_proxy_fix(app)
    i18n.init_app(app)
    security.init_app(app)
    from ml.images import set_decode_slots

    set_decode_slots(app.config["DECODE_SLOTS"])
    register_extensions(app)
    register_blueprints(app)
    register_errorhandlers(app)
    register_commands(app)
    return app


def register_proxy_fix(app: Flask) -> None:
    """Trust X-Forwarded-* from TRUSTED_PROXIES proxies in front (nginx: 1), so the client's address arrives."""
    value = app.config.get("TRUSTED_PROXIES") or 0
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"TRUSTED_PROXIES must be the number of proxies in front of the app (0, 1, 2...), not {value!r}.")
    if value:
        from werkzeug.middleware.proxy_fix import ProxyFix

        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=value, x_proto=value, x_host=value, x_port=value)


def register_extensions(app: Flask) -> None:
    from . import models  # noqa: F401  (tables must be known before Migrate binds)
    from .auth import init_app as init_auth
    from .extensions import csrf, db, limiter, migrate

    db.init_app(app)
    migrate.init_app(app, db, directory=os.path.join(os.path.dirname(app.root_path), "migrations"))
    csrf.init_app(app)
    limiter.init_app(app)
    init_auth(app)


def register_blueprints(app: Flask) -> None:
    from .admin import bp as admin_bp
    from .api import bp as api_bp
    from .health import bp as health_bp

    app.register_blueprint(health_bp)
    app.register_blueprint(api_bp)
    app.register_blueprint(admin_bp)
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
