"""The one configuration path: defaults → instance/config.py → ANIMALS_* environment → overrides."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping

from flask import Flask

ENV_PREFIX = "ANIMALS"


class Defaults:
    """Embedded defaults: everything runs from instance/ with nothing else installed."""

    SECRET_KEY = "dev-only-change-me"
    JSON_AS_ASCII = False
    #: Folder holding one dataset per subfolder; relative paths are inside instance/.
    DATA_DIR = "datasets"
    #: Folder holding trained model files; relative paths are inside instance/.
    MODEL_DIR = "models"


def _resolve(app: Flask, key: str) -> None:
    value = Path(app.config[key])
    if not value.is_absolute():
        value = Path(app.instance_path) / value
    app.config[key] = str(value)


def load_config(app: Flask, overrides: Mapping[str, Any] | None = None) -> None:
    """Fill `app.config` from every source in order; later sources win."""
    app.config.from_object(Defaults)
    app.config.from_pyfile("config.py", silent=True)
    app.config.from_prefixed_env(ENV_PREFIX)
    if overrides:
        app.config.update(overrides)
    os.makedirs(app.instance_path, exist_ok=True)
    for key in ("DATA_DIR", "MODEL_DIR"):
        _resolve(app, key)
