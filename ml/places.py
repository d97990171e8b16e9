"""Where an installation keeps its things: the instance folder, the model folder, the database, the active model.

One rule for the web app (`webapp.config` builds its settings on it) and the desktop (which must not
import the web app): the same `ANIMALS_*` environment variables, the same optional `instance/config.py`,
the same defaults. Torch-free, and it imports nothing but the standard library.
"""

from __future__ import annotations

import os
import runpy
import sqlite3
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import unquote

#: The prefix of every setting's environment variable (ANIMALS_MODEL_DIR, ANIMALS_INSTANCE_PATH...).
ENV_PREFIX = "ANIMALS"
#: The repository root (ml/ sits directly inside it).
REPO_ROOT = Path(__file__).resolve().parent.parent
#: The instance folder when ANIMALS_INSTANCE_PATH is not set.
DEFAULT_INSTANCE = REPO_ROOT / "instance"
#: Trained models' folder; a relative path is inside the instance folder.
DEFAULT_MODEL_DIR = "models"
#: The model shipped with the repository.
SHIPPED_MODEL = REPO_ROOT / "models" / "default" / "animals5.pt"
#: A training job writes under MODEL_DIR/.partial-<job id>/ and renames it only when the model is complete.
PARTIAL_PREFIX = ".partial-"


def partial_model_dir(models_dir: str | Path, job_id: str) -> Path:
    """The folder a training job writes into before its model is complete."""
    return Path(models_dir) / f"{PARTIAL_PREFIX}{job_id}"


def instance_override(overrides: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None) -> str | None:
    """`INSTANCE_PATH` in the overrides, else ANIMALS_INSTANCE_PATH, else None (the default folder)."""
    environ = os.environ if environ is None else environ
    return (overrides or {}).get("INSTANCE_PATH") or environ.get(f"{ENV_PREFIX}_INSTANCE_PATH") or None


class Installation:
    """The folders and database of one installation, found as the web app finds them (for the desktop)."""

    def __init__(self, environ: Mapping[str, str] | None = None):
        self.environ = dict(os.environ if environ is None else environ)
        self.instance = Path(instance_override(environ=self.environ) or DEFAULT_INSTANCE)
        self._file = self._instance_config()

    def _instance_config(self) -> dict[str, Any]:
        """The settings in instance/config.py (as Flask's `from_pyfile` reads them), or none."""
        path = self.instance / "config.py"
        if not path.is_file():
            return {}
        try:
            values = runpy.run_path(str(path))
        except Exception:  # a broken config is the web app's to report; the desktop falls back to defaults
            return {}
        return {k: v for k, v in values.items() if k.isupper()}

    def setting(self, key: str, default: Any = None) -> Any:
        """ANIMALS_<key> from the environment, else instance/config.py, else `default` (the web app's order)."""
        value = self.environ.get(f"{ENV_PREFIX}_{key}")
        if value:
            return value
        return self._file.get(key, default)

    @property
    def model_dir(self) -> Path:
        """Where the web app keeps trained models (MODEL_DIR; relative: inside the instance folder)."""
        folder = Path(str(self.setting("MODEL_DIR", DEFAULT_MODEL_DIR)))
        return folder if folder.is_absolute() else self.instance / folder

    @property
    def sqlite_path(self) -> Path | None:
        """The SQLite database file, or None when the installation uses another database."""
        url = self.environ.get("DATABASE_URL") or self.setting("SQLALCHEMY_DATABASE_URI")
        if not url:
            return self.instance / "animals.sqlite3"
        url = str(url)
        if not url.startswith("sqlite:///"):
            return None
        path = Path(unquote(url[len("sqlite:///"):]))
        return path if path.is_absolute() else self.instance / path  # Flask-SQLAlchemy's rule

    def active_model(self) -> Path | None:
        """The model file the web app serves (its database's active version), when the database can be read."""
        db = self.sqlite_path
        if db is None or not db.is_file():
            return None
        try:
            with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1) as conn:
                row = conn.execute("SELECT path FROM model_versions WHERE is_active = 1 "
                                   "ORDER BY activated_at DESC LIMIT 1").fetchone()
        except sqlite3.Error:  # not migrated yet, locked, another schema: fall back to the model folder
            return None
        path = Path(row[0]) if row and row[0] else None
        return path if path is not None and path.is_file() else None
