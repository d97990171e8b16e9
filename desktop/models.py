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


def active_instance_model(models_dir: Path | None = None) -> Path | None:
    """The web app's active model: the file named in `active.txt`, else the newest `*.pt` there."""
    models_dir = INSTANCE_MODELS if models_dir is None else Path(models_dir)
    if not models_dir.is_dir():
        return None
    marker = models_dir / "active.txt"
    if marker.is_file():
        name = marker.read_text(encoding="utf-8").strip()
        if name:
            candidate = Path(name) if Path(name).is_absolute() else models_dir / name
            if candidate.is_file():
                return candidate
    models = [p for p in models_dir.rglob("*.pt") if p.is_file()]
    return max(models, key=lambda p: p.stat().st_mtime) if models else None


def find_model(remembered: str = "", shipped: Path | None = None, models_dir: Path | None = None) -> Path | None:
    """The model to open at start: the one opened last, the shipped default, the web app's active one."""
    if remembered and Path(remembered).is_file():
        return Path(remembered)
    shipped = SHIPPED_MODEL if shipped is None else Path(shipped)
    if shipped.is_file():
        return shipped
    return active_instance_model(models_dir)
