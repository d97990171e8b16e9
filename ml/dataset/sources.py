"""Where each picture of a class-folder dataset came from: its `SOURCES.csv`.

A `SOURCES.csv` at a dataset's root (columns `class`, `staged_path`, `source_repo`, ...) names the
source of every picture: `staged_path` is the picture's path relative to the root, `source_repo`
where it came from. Evaluation breaks its scores down by source (`ml.evalset`), and adding
pictures to a training set can leave chosen sources out (`ml.dataset.merge`), so the photos kept
for an out-of-source test never reach training.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

from ..errors import DatasetError

SOURCES_FILE = "SOURCES.csv"
#: The source of a picture that SOURCES.csv does not list (or lists without a source).
UNLISTED = "(not in SOURCES.csv)"
#: Columns SOURCES.csv must have: the picture's path under the root, and where it came from.
SOURCE_COLUMNS = ("staged_path", "source_repo")


def read_sources(root: str | os.PathLike) -> dict[str, str]:
    """`{staged_path: source_repo}` from the root's SOURCES.csv; empty when there is none."""
    path = Path(root) / SOURCES_FILE
    if not path.is_file():
        return {}
    try:
        with path.open(encoding="utf-8-sig", newline="") as fh:
            reader = csv.DictReader(fh)
            missing = [c for c in SOURCE_COLUMNS if c not in (reader.fieldnames or [])]
            if missing:
                raise DatasetError(
                    f"{path} lacks the column(s) {', '.join(missing)}; it needs {', '.join(SOURCE_COLUMNS)}.",
                    code="bad_sources",
                )
            out = {}
            for row in reader:
                rel = (row.get("staged_path") or "").strip().replace("\\", "/").removeprefix("./")
                if rel:
                    out[rel] = (row.get("source_repo") or "").strip() or UNLISTED
            return out
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DatasetError(f"{path} cannot be read as UTF-8 CSV ({exc}).", code="bad_sources") from None
