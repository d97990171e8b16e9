"""Where the client finds a model to open when the person has not chosen one."""

from __future__ import annotations

from pathlib import Path

#: The repository root (desktop/ sits directly inside it).
REPO_ROOT = Path(__file__).resolve().parent.parent
#: The model shipped with the product, committed in the repository.
SHIPPED_MODEL = REPO_ROOT / "models" / "default" / "animals5.pt"
#: Where the web app keeps trained models.
INSTANCE_MODELS = REPO_ROOT / "instance" / "models"
#: File endings the client can open.
MODEL_SUFFIXES = (".pt", ".onnx")


#: Folder names inside a kept model folder that hold training checkpoints, not models.
RUN_FOLDERS = ("runs",)


def is_model_file(path: Path, models_dir: Path) -> bool:
    """A finished model under `models_dir`: not a run's checkpoint (runs/.../best.pt), not a job's .partial-* folder."""
    folders = path.relative_to(models_dir).parts[:-1]
    return path.is_file() and not path.name.startswith(".") and not any(
        part in RUN_FOLDERS or part.startswith(".") for part in folders)


def newest_instance_model(models_dir: Path | None = None) -> Path | None:
    """The newest model the web app trained (`*.pt` under its model folder, checkpoints left out)."""
    models_dir = INSTANCE_MODELS if models_dir is None else Path(models_dir)
    if not models_dir.is_dir():
        return None
    models = [p for p in models_dir.rglob("*.pt") if is_model_file(p, models_dir)]
    return max(models, key=lambda p: p.stat().st_mtime) if models else None


def find_model(remembered: str = "", shipped: Path | None = None, models_dir: Path | None = None) -> Path | None:
    """The model to open at start: the one opened last, the shipped default, the web app's newest one."""
    if remembered and Path(remembered).is_file():
        return Path(remembered)
    shipped = SHIPPED_MODEL if shipped is None else Path(shipped)
    if shipped.is_file():
        return shipped
    return newest_instance_model(models_dir)
