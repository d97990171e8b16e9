"""Add the pictures of one class-folder dataset to another, optionally only some of its sources.

    add_from("photos/more", "datasets/pets", exclude_sources=["site-b"])

A `SOURCES.csv` at the source root (columns `class`, `staged_path`, `source_repo`, ...) names where
each picture came from; `only_sources` / `exclude_sources` filter on it, so pictures from sources
kept for out-of-source testing never reach training. Files are copied (never moved) under a
prefixed name, so nothing in either folder is lost or overwritten.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable
from pathlib import Path

from ..errors import DatasetError
from ..images import is_image_name
from .layout import list_class_files, list_classes
from .sources import SOURCES_FILE, read_sources


def add_from(
    source_root: str | os.PathLike,
    dest_root: str | os.PathLike,
    *,
    only_sources: Iterable[str] | None = None,
    exclude_sources: Iterable[str] = (),
    prefix: str = "add",
) -> dict[str, int]:
    """Copy pictures class by class from `source_root` into `dest_root`; the count per class."""
    src, dest = Path(source_root), Path(dest_root)
    if not src.is_dir():
        raise DatasetError(f"No such folder: {src}", code="dataset_missing")
    sources = read_sources(src)
    only = set(only_sources) if only_sources is not None else None
    excluded = set(exclude_sources)
    if (only or excluded) and not sources:
        raise DatasetError(f"{src} has no {SOURCES_FILE}: cannot filter by source.", code="bad_sources")
    unknown = ((only or set()) | excluded) - set(sources.values())
    if unknown:
        raise DatasetError(f"No pictures from source(s) {', '.join(sorted(unknown))} in {src}.", code="bad_sources")
    counts: dict[str, int] = {}
    for cls in list_classes(src):
        for rel in list_class_files(src, cls):
            name = Path(rel).name
            origin = sources.get(rel)
            if (only is not None and origin not in only) or origin in excluded or not is_image_name(name):
                continue
            target = dest / cls / f"{prefix}_{name}"
            if target.exists():
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src / rel, target)
            counts[cls] = counts.get(cls, 0) + 1
    if not counts:
        raise DatasetError(f"Nothing to add from {src} with these source filters.", code="empty_dataset")
    return counts


__all__ = ["SOURCES_FILE", "add_from", "read_sources"]
