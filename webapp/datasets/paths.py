"""Turn names from URLs and forms into paths, refusing anything outside a dataset root.

Every path the dataset pages read or write goes through here. Dataset and class names follow the
one name rule (`ml.operations.names.check_name`: not empty, not hidden like `.trash` or reserved
like `__x`, no separator); a path is also refused when its real path (symlinks resolved) lands
outside the folder it must stay in.
"""

from __future__ import annotations

import os
from pathlib import Path

from ml.dataset import list_classes
from ml.errors import DatasetError
from ml.operations import names


class UnsafePath(DatasetError):
    """A dataset, class or file name that would leave its folder, or names nothing there."""

    code = "not_found"


def check_name(name: str, what: str = "name") -> str:
    """`name` if it is a dataset or class name by the one rule (`ml.operations.names`); else UnsafePath (404)."""
    return names.check_name(name, what, error=UnsafePath)


def _check_file_part(part: str) -> str:
    """One component of a picture's path below its class folder: visible, no separator or NUL."""
    if not part or part.startswith(".") or any(ch in part for ch in ("/", "\\", "\0")):
        raise UnsafePath(f"Not a valid image path part: {part!r}")
    return part


def dataset_names(data_dir: str | os.PathLike) -> list[str]:
    """Names of the dataset folders under `data_dir` that the dataset pages can open, sorted."""
    base = Path(data_dir)
    if not base.is_dir():
        return []
    return [entry.name for entry in sorted(base.iterdir(), key=lambda p: p.name)
            if entry.is_dir() and names.is_name(entry.name)]  # hidden or reserved (".x", "__x"): pages refuse them


def inside(root: Path, candidate: Path) -> Path:
    """The real path of `candidate`, if it lies within the real path of `root`; else UnsafePath."""
    real_root = Path(os.path.realpath(root))
    real = Path(os.path.realpath(candidate))
    if real != real_root and not real.is_relative_to(real_root):
        raise UnsafePath(f"{candidate} is outside {root}")
    return real


def dataset_root(data_dir: str | os.PathLike, name: str) -> Path:
    """The folder of dataset `name` directly under `data_dir`, which must exist."""
    check_name(name, "dataset name")
    base = Path(data_dir)
    path = base / name
    real = inside(base, path)
    if real.parent != Path(os.path.realpath(base)) or not real.is_dir():
        raise UnsafePath(f"No dataset named {name!r}")
    return path


def class_dir(root: Path, cls: str) -> Path:
    """The folder of class `cls` in dataset `root`, which must be one of its classes."""
    check_name(cls, "class name")
    if cls not in list_classes(root):
        raise UnsafePath(f"No class named {cls!r} in this dataset")
    path = root / cls
    inside(root, path)
    return path


def image_file(root: Path, relpath: str) -> tuple[Path, str]:
    """(`root/relpath`, class) for a file under one of the dataset's class folders."""
    if not relpath or relpath.startswith("/") or os.path.isabs(relpath):
        raise UnsafePath(f"Not a valid image path: {relpath!r}")
    parts = relpath.split("/")
    check_name(parts[0], "class name")
    for part in parts[1:]:
        _check_file_part(part)
    if len(parts) < 2:
        raise UnsafePath(f"Not an image inside a class folder: {relpath!r}")
    cls = parts[0]
    class_dir(root, cls)
    path = root.joinpath(*parts)
    real = inside(root / cls, path)
    if not real.is_file():
        raise UnsafePath(f"No image {relpath!r} in this dataset")
    return path, cls
