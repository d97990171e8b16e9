"""What an evaluation scores: a split part, or every picture in a folder of class folders.

    chosen = class_folders("../shared/datasets/animals5_more", predictor.classes)
    chosen = choose_sources(chosen, only="LTSACH/AILearningHub")   # needs a SOURCES.csv
    per_source(chosen, files, labels, probs)                       # accuracy and ECE by source

A folder of class folders is matched to the model's classes by folder name; files at its root
(README.md, SOURCES.csv) are ignored. A `SOURCES.csv` at the root, with columns `staged_path`
(relative to the root) and `source_repo`, names where each picture came from, so the scores can be
broken down by source and a test can be restricted to sources that training never saw.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from .calibration import expected_calibration_error, top1
from .dataset.layout import check_classes_on_disk, list_class_files, list_classes, read_split, require_dataset
from .dataset.sources import SOURCES_FILE, UNLISTED, read_sources
from .errors import DatasetError


@dataclass
class EvalSet:
    """Pictures to score: `rows` of (path relative to `root`, index into the model's `classes`)."""

    root: Path
    classes: list[str]
    rows: list[tuple[str, int]]
    part: str  # "test" / "val" / "train" for a split part, "all" for every picture in the class folders
    sources: dict[str, str] = field(default_factory=dict)  # path -> source, from SOURCES.csv
    notes: list[str] = field(default_factory=list)  # what a person should know (skipped folders, filters)
    filters: dict[str, list[str]] = field(default_factory=dict)  # {"only": [...], "exclude": [...]}

    def source_of(self, rel: str) -> str:
        """Where the picture at `rel` came from (UNLISTED when SOURCES.csv does not say)."""
        return self.sources.get(rel, UNLISTED)


def split_part(root: str | os.PathLike, part: str, model_classes: Sequence[str]) -> EvalSet:
    """The rows of one split part; the dataset's classes must be the model's, in the same order."""
    from .artifact import ModelError

    base = require_dataset(root)
    classes, rows = read_split(base, part)
    if list(classes) != list(model_classes):
        raise ModelError(
            f"The model knows classes {list(model_classes)}, the dataset has {classes}: they must match.",
            code="model_incompatible",
        )
    check_classes_on_disk(base, classes)
    if not rows:
        raise DatasetError(f"The {part} split of {base} is empty: nothing to evaluate.", code="empty_split")
    return EvalSet(base, list(classes), rows, part, read_sources(base))


def class_folders(root: str | os.PathLike, model_classes: Sequence[str], *, skip_unknown: bool = False) -> EvalSet:
    """Every file in the class folders of `root` whose names are classes of the model."""
    base = require_dataset(root)
    classes = list(model_classes)
    folders = list_classes(base)
    unknown = [f for f in folders if f not in classes]
    notes = []
    if unknown and not skip_unknown:
        raise DatasetError(
            f"The model does not know the class folder(s) {', '.join(unknown)} in {base} (it knows "
            f"{', '.join(classes)}). Rename or move them, or skip them (--skip-unknown-classes).",
            code="class_unknown",
        )
    if unknown:
        notes.append(f"skipped class folder(s) the model does not know: {', '.join(unknown)}")
    rows: list[tuple[str, int]] = []
    for folder in folders:
        if folder in unknown:
            continue
        files = list_class_files(base, folder)
        if not files:
            notes.append(f"class folder {folder} is empty")
        rows += [(rel, classes.index(folder)) for rel in files]
    absent = [c for c in classes if c not in folders]
    if absent and len(absent) < len(classes):
        notes.append(f"no folder for class(es) {', '.join(absent)}: they are scored as never present")
    if not rows:
        found = f"its class folders ({', '.join(folders)})" if folders else "no class folders"
        raise DatasetError(
            f"Nothing to evaluate in {base}: {found} hold no pictures of the model's classes ({', '.join(classes)}).",
            code="nothing_to_evaluate",
        )
    return EvalSet(base, classes, rows, "all", read_sources(base), notes)


def _names(value: str | Sequence[str] | None) -> list[str]:
    if value is None:
        return []
    items = value.split(",") if isinstance(value, str) else list(value)
    return [s.strip() for s in items if s and s.strip()]


def choose_sources(chosen: EvalSet, only: str | Sequence[str] | None = None,
                   exclude: str | Sequence[str] | None = None) -> EvalSet:
    """Keep the pictures of the sources in `only` (all when empty), minus those in `exclude`."""
    only, exclude = _names(only), _names(exclude)
    if not only and not exclude:
        return chosen
    if not chosen.sources:
        raise DatasetError(f"{chosen.root} has no {SOURCES_FILE}, so there are no sources to choose from.",
                           code="no_sources")
    known = sorted({chosen.source_of(rel) for rel, _ in chosen.rows} | set(chosen.sources.values()))
    wrong = [s for s in only + exclude if s not in known]
    if wrong:
        raise DatasetError(f"Unknown source(s) {', '.join(wrong)}; {SOURCES_FILE} names: {', '.join(known)}.",
                           code="unknown_source")
    rows = [(rel, label) for rel, label in chosen.rows
            if (not only or chosen.source_of(rel) in only) and chosen.source_of(rel) not in exclude]
    if not rows:
        raise DatasetError("No pictures are left after choosing sources: nothing to evaluate.",
                           code="nothing_to_evaluate")
    filters = {k: v for k, v in (("only", only), ("exclude", exclude)) if v}
    note = f"sources: kept {len(rows)} of {len(chosen.rows)} pictures (" + "; ".join(
        f"{k}: {', '.join(v)}" for k, v in filters.items()) + ")"
    return replace(chosen, rows=rows, notes=[*chosen.notes, note], filters=filters)


def per_source(chosen: EvalSet, files: Sequence[str], labels: Sequence[int], probs: np.ndarray,
               unknown: np.ndarray | None = None) -> dict[str, Any]:
    """Accuracy, ECE, per-class accuracy (and unknown rate) for each source of the scored `files` (empty without sources)."""
    if not chosen.sources:
        return {}
    y = np.asarray(labels, dtype=np.int64)
    conf, right = top1(y, probs)
    groups = np.asarray([chosen.source_of(f) for f in files], dtype=object)
    out: dict[str, Any] = {}
    for source in sorted(set(groups.tolist())):
        inside = groups == source
        classes = {}
        for i in np.unique(y[inside]):
            mask = inside & (y == i)
            classes[chosen.classes[i]] = {"count": int(mask.sum()), "accuracy": round(float(right[mask].mean()), 4)}
        out[source] = {
            "count": int(inside.sum()),
            "accuracy": round(float(right[inside].mean()), 4),
            "ece": round(expected_calibration_error(conf[inside], right[inside]), 4),
            "mean_confidence": round(float(conf[inside].mean()), 4),
            "per_class": classes,
        }
        if unknown is not None:
            out[source]["unknown_rate"] = round(float(np.asarray(unknown)[inside].mean()), 4)
    return out
