"""What the picture grids know about each file: its split part, scan flags, the active model's mistakes.

All of it is read from files that already exist (the split lists, dataset.json, the evaluation
reports beside the active model); nothing is decoded or predicted for a page view. The flags cost
one comparison of the stored hashes, so they are kept per dataset until dataset.json changes.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ml.dataset import METADATA_FILE, read_metadata, read_split
from ml.dataset.flags import flag_files
from ml.errors import DatasetError
from ml.evaluations import misclassified_files

from ..i18n import N_

#: The grid filters, in the order the page offers them ("misclassified" only to administrators).
FILTERS = ("all", "train", "val", "test", "unsplit", "flagged", "misclassified")
FILTER_LABELS = {
    "all": N_("All images"),
    "train": N_("In train"),
    "val": N_("In validation"),
    "test": N_("In test"),
    "unsplit": N_("Not in the split"),
    "flagged": N_("Flagged by the scan"),
    "misclassified": N_("Misclassified by the active model"),
}
#: Why the scan flagged a picture, as the badges say it.
FLAG_LABELS = {
    "exact_duplicate": N_("duplicate"),
    "near_duplicate": N_("near duplicate"),
    "small": N_("small"),
    "odd_shape": N_("odd shape"),
}
PART_LABELS = {"train": N_("train"), "val": N_("validation"), "test": N_("test")}
#: Page sizes a visitor can pick (the configured DATASET_PAGE_SIZE joins them).
PAGE_SIZES = (24, 48, 96)

_flag_cache: dict[str, tuple[int, dict[str, list[str]]]] = {}
_flag_lock = threading.Lock()


@dataclass
class GridFacts:
    """Per-file facts of one dataset, keyed by relative path."""

    parts: dict[str, str] = field(default_factory=dict)
    flags: dict[str, list[str]] = field(default_factory=dict)
    wrong: dict[str, dict[str, Any]] = field(default_factory=dict)

    def matches(self, rel: str, show: str) -> bool:
        """True when `rel` belongs in the grid filtered by `show`."""
        if show in PART_LABELS:
            return self.parts.get(rel) == show
        if show == "unsplit":
            return rel not in self.parts
        if show == "flagged":
            return rel in self.flags
        if show == "misclassified":
            return rel in self.wrong
        return True

    def counts(self, files: list[str], offered: tuple[str, ...]) -> dict[str, int]:
        """How many of `files` each offered filter would show."""
        return {show: sum(1 for rel in files if self.matches(rel, show)) for show in offered}


def split_parts(root: Path) -> dict[str, str]:
    """`{relative path: "train" | "val" | "test"}` from the split lists ({} before a split)."""
    out: dict[str, str] = {}
    for part in PART_LABELS:
        try:
            _classes, rows = read_split(root, part)
        except DatasetError:
            continue
        for rel, _label in rows:
            out.setdefault(rel, part)
    return out


def scan_flags(root: Path) -> dict[str, list[str]]:
    """The scan flags of a dataset, recomputed only when its dataset.json changes."""
    meta_path = root / METADATA_FILE
    try:
        stamp = meta_path.stat().st_mtime_ns
    except OSError:
        return {}
    key = str(root.resolve())
    with _flag_lock:
        cached = _flag_cache.get(key)
    if cached and cached[0] == stamp:
        return cached[1]
    flags = flag_files(read_metadata(root))
    with _flag_lock:
        _flag_cache[key] = (stamp, flags)
    return flags


def grid_facts(root: Path, model_path: str | None) -> GridFacts:
    """Split parts, scan flags and (when `model_path` is given) that model's mistakes on this dataset."""
    wrong = misclassified_files(model_path, root) if model_path else {}
    return GridFacts(parts=split_parts(root), flags=scan_flags(root), wrong=wrong)


def offered_filters(facts: GridFacts, admin: bool) -> tuple[str, ...]:
    """The filters worth offering: split parts once split, misclassified for administrators with a report."""
    offered = ["all"]
    if facts.parts:
        offered += ["train", "val", "test", "unsplit"]
    offered.append("flagged")
    if admin and facts.wrong:
        offered.append("misclassified")
    return tuple(offered)


def page_sizes(default: int) -> list[int]:
    """The page sizes offered, with the configured default among them."""
    return sorted({*PAGE_SIZES, default})
