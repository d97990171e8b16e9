"""Folder recognition without Qt: list pictures, classify them in chunks, export CSV, copy by class.

The worker in `workers.py` runs `classify_files` on a thread; tests and scripts can call it directly.
Originals are only ever read: copying into class folders never moves, renames or deletes them.
"""

from __future__ import annotations

import csv
import shutil
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from ml.errors import MLError
from ml.images import ImageError, is_image_name, load_image
from ml.progress import check_stop, report

#: Pictures decoded and classified together; small so that cancel answers quickly.
CHUNK_SIZE = 8


class BatchError(MLError):
    """A folder cannot be processed or results cannot be saved as asked."""

    code = "batch_error"


@dataclass
class BatchRow:
    """One picture's outcome: its top label, probability and unknown verdict, or why it could not be read.

    `unknown` is None when the model has no "none of my classes" check.
    """

    path: Path
    name: str
    label: str = ""
    probability: float = 0.0
    error_code: str = ""
    error: str = ""
    unknown: bool | None = None
    unknown_score: float | None = None

    @property
    def ok(self) -> bool:
        return not self.error_code


def list_pictures(folder: str | Path) -> list[Path]:
    """The picture files directly inside `folder`, sorted by name; hidden files are skipped."""
    root = Path(folder)
    if not root.is_dir():
        raise BatchError(f"{root} is not a folder.", code="not_a_folder")
    try:
        entries = sorted(root.iterdir(), key=lambda p: p.name.lower())
    except PermissionError:
        raise BatchError(f"No permission to list {root}.", code="unreadable") from None
    files = [p for p in entries if p.is_file() and not p.name.startswith(".") and is_image_name(p)]
    if not files:
        raise BatchError(f"{root} holds no pictures.", code="no_pictures")
    return files


def classify_files(
    predictor,
    files: Sequence[Path],
    *,
    on_rows: Callable[[list[BatchRow]], None] | None = None,
    on_progress=None,
    should_stop=None,
    chunk_size: int = CHUNK_SIZE,
) -> list[BatchRow]:
    """Classify `files` with `predictor`; unreadable files become rows with an error, not failures."""
    rows: list[BatchRow] = []
    total = len(files)
    report(on_progress, "batch", 0, total)
    for start in range(0, total, chunk_size):
        check_stop(should_stop)
        chunk = [BatchRow(path=Path(p), name=Path(p).name) for p in files[start : start + chunk_size]]
        good, images = [], []
        for row in chunk:
            try:
                images.append(load_image(row.path, target=predictor.size))
                good.append(row)
            except ImageError as exc:
                row.error_code, row.error = exc.code, exc.message
        if images:
            for row, answer in zip(good, predictor.classify_many(images, k=1), strict=True):
                row.label, row.probability = answer.top_k[0]
                row.unknown, row.unknown_score = answer.unknown, answer.unknown_score
        rows.extend(chunk)
        if on_rows is not None:
            on_rows(chunk)
        report(on_progress, "batch", len(rows), total)
    return rows


def write_csv(rows: Iterable[BatchRow], path: str | Path, display: Callable[[str], str] | None = None) -> Path:
    """Save rows as CSV (UTF-8 with BOM so spreadsheet programs read Chinese labels correctly).

    `unknown` is true/false, or empty when the model has no such check (or the file was unreadable).
    """
    out = Path(path)
    try:
        with out.open("w", encoding="utf-8-sig", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(["file", "label", "display_label", "probability", "unknown", "unknown_score", "error"])
            for r in rows:
                shown = display(r.label) if (display and r.ok) else r.label
                prob = f"{r.probability:.4f}" if r.ok else ""
                unknown = "" if r.unknown is None else str(r.unknown).lower()
                score = "" if r.unknown_score is None else f"{r.unknown_score:.4f}"
                writer.writerow([str(r.path), r.label, shown, prob, unknown, score, r.error])
    except OSError as exc:
        raise BatchError(f"Cannot write {out}: {exc.strerror or exc}.", code="write_failed") from None
    return out


def _free_name(folder: Path, name: str) -> Path:
    """`folder/name`, or `folder/stem (n).ext` when that name is taken: never overwrite."""
    target = folder / name
    n = 1
    while target.exists():
        target = folder / f"{Path(name).stem} ({n}){Path(name).suffix}"
        n += 1
    return target


def safe_folder_name(label: str) -> str:
    """A class name usable as a folder name on every system (path separators and dots removed)."""
    cleaned = "".join("_" if c in '<>:"/\\|?*' or ord(c) < 32 else c for c in label).strip(" .")
    return cleaned or "_"


def copy_into_class_folders(rows: Iterable[BatchRow], dest: str | Path) -> int:
    """Copy each recognised picture into `dest/<label>/`; originals stay where they are. Returns the count."""
    root = Path(dest)
    rows = [r for r in rows if r.ok]
    if not rows:
        raise BatchError("There are no recognised pictures to copy.", code="nothing_to_copy")
    copied = 0
    try:
        for r in rows:
            folder = root / safe_folder_name(r.label)
            folder.mkdir(parents=True, exist_ok=True)
            shutil.copy2(r.path, _free_name(folder, r.path.name))
            copied += 1
    except OSError as exc:
        raise BatchError(f"Copy stopped after {copied} pictures: {exc.strerror or exc}.", code="copy_failed") from None
    return copied
