"""How well does a model say "none of my classes"? Score a folder of photos of *other* things.

    evaluate_unknown("models/default/animals5.pt", "photos/others")

Every picture under the folder (one subfolder per kind of thing, or loose files) should come out
unknown. The report gives the share flagged, overall and per subfolder, and what the flagged and
missed pictures looked like to the model (its top guess), in `<stem>.<tag>.unknown.json`.
"""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from .dataset.layout import require_dataset, write_json_atomic
from .errors import DatasetError, MLError
from .evaluate import image_batches
from .images import is_image_name
from .progress import ProgressFn, StopFn


def unknown_report_path(model_path: str | os.PathLike, tag: str, out_dir: str | os.PathLike | None = None) -> Path:
    """Where `evaluate_unknown` writes: `<stem>.<tag>.unknown.json` beside the model (or in `out_dir`)."""
    path = Path(model_path)
    return (Path(out_dir) if out_dir else path.parent) / f"{path.stem}.{tag}.unknown.json"


def _pictures(root: Path) -> list[tuple[str, str]]:
    """(relative path, group) for every picture: the group is its top folder ("." for loose files)."""
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith((".", "__")))
        for name in sorted(filenames):
            if is_image_name(name) and not name.startswith("."):
                rel = Path(dirpath, name).relative_to(root)
                out.append((rel.as_posix(), rel.parts[0] if len(rel.parts) > 1 else "."))
    return out


def evaluate_unknown(
    model_path: str | os.PathLike,
    folder: str | os.PathLike,
    *,
    tag: str | None = None,
    out_dir: str | os.PathLike | None = None,
    batch_size: int = 32,
    backend: str = "auto",
    on_progress: ProgressFn | None = None,
    should_stop: StopFn | None = None,
) -> dict[str, Any]:
    """Share of pictures of other things that the model's open-set check flags as unknown."""
    from .predict import Predictor

    predictor = Predictor.load(model_path, backend=backend)
    if not predictor.has_open_set:
        raise MLError(f"{Path(model_path).name} has no \"none of my classes\" check to evaluate "
                      "(it was trained before this existed, or without validation pictures).", code="no_open_set")
    root = require_dataset(folder)
    rows = _pictures(root)
    if not rows:
        raise DatasetError(f"No pictures under {root}.", code="empty_dataset")
    flagged, groups, guesses, skipped = [], [], [], []
    for images, batch in image_batches(root, rows, predictor.size, batch_size, skipped, on_progress, should_stop):
        for answer, (_, group) in zip(predictor.classify_many(images, k=1, batch_size=len(images)), batch):
            flagged.append(bool(answer.unknown))
            groups.append(group)
            guesses.append(answer.top_k[0][0])
    if not flagged:
        raise DatasetError(f"None of the {len(rows)} pictures under {root} could be read.", code="empty_dataset")
    flags = np.array(flagged)
    per_group = {}
    for group in sorted(set(groups)):
        mask = np.array([g == group for g in groups])
        missed = Counter(g for g, f, m in zip(guesses, flags, mask) if m and not f)
        per_group[group] = {"count": int(mask.sum()), "flagged_rate": round(float(flags[mask].mean()), 4),
                            "missed_as": dict(missed.most_common())}
    result = {
        "model": Path(model_path).name, "folder": str(root), "count": len(flags),
        "flagged": int(flags.sum()), "flagged_rate": round(float(flags.mean()), 4),
        "open_set": predictor.info.get("open_set"), "backend": predictor.backend,
        "per_group": per_group, "skipped": skipped,
    }
    path = unknown_report_path(model_path, tag or root.resolve().name, out_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json_atomic(path, result | {"file": str(path)})
    result["file"] = str(path)
    return result


__all__ = ["evaluate_unknown", "unknown_report_path"]
