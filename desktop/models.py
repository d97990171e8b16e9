"""Where the client finds a model to open when the person has not chosen one.

The web app's installation is found by the same rule the web app uses (`ml.places.Installation`: the
`ANIMALS_*` environment variables, `instance/config.py`, the defaults), so the desktop and the site agree on
the instance folder, the model folder and the database without the desktop importing the web app.
"""

from __future__ import annotations

from pathlib import Path

from ml.places import SHIPPED_MODEL, Installation

__all__ = ["MODEL_SUFFIXES", "RUN_FOLDERS", "SHIPPED_MODEL", "find_model", "is_model_file", "newest_instance_model"]

#: File endings the client can open.
MODEL_SUFFIXES = (".pt", ".onnx")
#: Folder names inside a kept model folder that hold training checkpoints (best.pt, last.pt), not models.
RUN_FOLDERS = ("runs",)


def is_model_file(path: Path, models_dir: Path) -> bool:
    """A finished model under `models_dir`: not a run's checkpoint (runs/.../best.pt), not a job's .partial-* folder."""
    folders = path.relative_to(models_dir).parts[:-1]
    return path.is_file() and not path.name.startswith(".") and not any(
        part in RUN_FOLDERS or part.startswith(".") for part in folders)


def newest_instance_model(models_dir: Path) -> Path | None:
    """The newest model the web app trained (`*.pt` under its model folder, checkpoints left out)."""
    models_dir = Path(models_dir)
    if not models_dir.is_dir():
        return None
    models = [p for p in models_dir.rglob("*.pt") if is_model_file(p, models_dir)]
    return max(models, key=lambda p: p.stat().st_mtime) if models else None


def find_model(remembered: str = "", shipped: Path | None = None,
               installation: Installation | None = None) -> Path | None:
    """The model to open at start: the one opened last, the one the web app serves, the shipped default,
    the web app's newest trained one."""
    if remembered and Path(remembered).is_file():
        return Path(remembered)
    installation = Installation() if installation is None else installation
    active = installation.active_model()
    if active is not None:
        return active
    shipped = SHIPPED_MODEL if shipped is None else Path(shipped)
    if shipped.is_file():
        return shipped
    return newest_instance_model(installation.model_dir)
