"""Decode and resize a split's pictures once per run, so epochs never re-decode full-size JPEGs.

Pictures are stored as centre squares (uint8, N×S×S×3) in a `.npy` memory map inside the run
folder: a resumed run reuses it, and a large dataset does not have to fit in memory.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import DatasetError
from .files import atomic_path, write_json_atomic
from .images import ImageError, load_image
from .progress import ProgressFn, StopFn, check_stop, report
from .transforms import to_square_uint8


@dataclass
class CachedSplit:
    """Pictures of one split part at one size, with labels, file names and what was skipped."""

    pixels: np.ndarray
    labels: np.ndarray
    files: list[str]
    skipped: list[dict] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.files)


def _key(rows: list[tuple[str, int]], size: int) -> str:
    text = json.dumps([size, rows], ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def cache_split(
    root: Path,
    rows: list[tuple[str, int]],
    size: int,
    folder: Path,
    name: str,
    *,
    on_progress: ProgressFn | None = None,
    should_stop: StopFn | None = None,
) -> CachedSplit:
    """Centre squares of every readable picture in `rows`, cached under `folder/name-*`."""
    folder.mkdir(parents=True, exist_ok=True)
    key = _key(rows, size)
    data_path, index_path = folder / f"{name}-{size}.npy", folder / f"{name}-{size}.json"
    if data_path.exists() and index_path.exists():
        index = json.loads(index_path.read_text(encoding="utf-8"))
        if index.get("key") == key:
            pixels = np.load(data_path, mmap_mode="r")
            return CachedSplit(pixels, np.asarray(index["labels"], dtype=np.int64), index["files"], index["skipped"])
    files: list[str] = []
    labels: list[int] = []
    skipped: list[dict] = []
    with atomic_path(data_path) as tmp_path:  # a cancelled decode leaves no half cache behind
        pixels = np.lib.format.open_memmap(tmp_path, mode="w+", dtype=np.uint8,
                                           shape=(max(len(rows), 1), size, size, 3))
        report(on_progress, "cache", 0, len(rows), part=name)
        for done, (rel, label) in enumerate(rows, 1):
            check_stop(should_stop)
            try:
                pixels[len(files)] = to_square_uint8(load_image(root / rel, target=size), size)
            except ImageError as exc:
                skipped.append({"file": rel, "reason": exc.message, "code": exc.code})
            else:
                files.append(rel)
                labels.append(label)
            report(on_progress, "cache", done, len(rows), part=name)
        pixels.flush()
        del pixels
        # Keep only the rows that decoded: rewrite compactly (onto the temporary) when something was skipped.
        full = np.load(tmp_path, mmap_mode="r")
        if len(files) != full.shape[0]:
            with atomic_path(tmp_path) as compact, open(compact, "wb") as fh:
                np.save(fh, np.asarray(full[: len(files)]))
        del full
    write_json_atomic(index_path, {"key": key, "files": files, "labels": labels, "skipped": skipped})
    return CachedSplit(np.load(data_path, mmap_mode="r"), np.asarray(labels, dtype=np.int64), files, skipped)


def check_classes_on_disk(root: Path, classes: list[str]) -> None:
    """Raise DatasetError when a class listed in the split has no folder any more."""
    gone = [c for c in classes if not (root / c).is_dir()]
    if gone:
        raise DatasetError(
            f"Class folder(s) listed in the split are missing from {root}: {', '.join(gone)}. "
            f"Restore them or split again (`flask dataset split {root}`).",
            code="class_missing",
        )
