"""How good is a model: accuracy, top-k, per-class precision/recall/F1, confusion matrix, mistakes.

`evaluate(model_path, dataset_root)` scores a model file on a split part with the very same
preprocessing as prediction, and writes `<stem>.metrics.json` and `<stem>.confusion.png` beside it.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .dataset.layout import read_split, require_dataset, write_json_atomic
from .errors import DatasetError
from .images import ImageError, load_image
from .progress import ProgressFn, StopFn, check_stop, report


def report_paths(model_path: str | os.PathLike) -> tuple[Path, Path]:
    """Where evaluation writes its results for a model file: `<stem>.metrics.json`, `<stem>.confusion.png`."""
    path = Path(model_path)
    return path.with_name(path.stem + ".metrics.json"), path.with_name(path.stem + ".confusion.png")


def compute_metrics(
    labels: Sequence[int],
    probs: np.ndarray,
    classes: Sequence[str],
    files: Sequence[str] | None = None,
    *,
    k: int = 3,
) -> dict[str, Any]:
    """Scores for true `labels` against predicted class `probs` (one row per picture)."""
    y = np.asarray(labels, dtype=np.int64)
    n, c = len(y), len(classes)
    probs = np.asarray(probs, dtype=np.float64).reshape(n, c)
    pred = probs.argmax(axis=1) if n else np.zeros(0, dtype=np.int64)
    k = max(1, min(k, c))
    topk = np.argsort(-probs, axis=1, kind="stable")[:, :k] if n else np.zeros((0, k), dtype=np.int64)
    confusion = np.zeros((c, c), dtype=np.int64)
    np.add.at(confusion, (y, pred), 1)
    per_class = {}
    for i, name in enumerate(classes):
        tp = int(confusion[i, i])
        predicted, actual = int(confusion[:, i].sum()), int(confusion[i].sum())
        precision = tp / predicted if predicted else 0.0
        recall = tp / actual if actual else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_class[name] = {"precision": round(precision, 4), "recall": round(recall, 4), "f1": round(f1, 4), "support": actual}
    present = [v for v in per_class.values() if v["support"]]
    mistakes = []
    for i in np.flatnonzero(pred != y) if n else []:
        mistakes.append({
            "file": files[i] if files is not None else int(i),
            "label": classes[y[i]],
            "predicted": classes[pred[i]],
            "confidence": round(float(probs[i, pred[i]]), 4),
        })
    mistakes.sort(key=lambda m: -m["confidence"])
    return {
        "count": n,
        "accuracy": round(float((pred == y).mean()), 4) if n else 0.0,
        "top_k": k,
        "top_k_accuracy": round(float((topk == y[:, None]).any(axis=1).mean()), 4) if n else 0.0,
        "macro_f1": round(float(np.mean([v["f1"] for v in present])), 4) if present else 0.0,
        "per_class": per_class,
        "classes": list(classes),
        "confusion": confusion.tolist(),
        "misclassified": mistakes,
    }


def write_report(model_path: str | os.PathLike, metrics: dict[str, Any]) -> dict[str, str]:
    """Save metrics JSON and the confusion heatmap beside the model; return their paths."""
    from .plots import render_confusion

    metrics_path, png_path = report_paths(model_path)
    render_confusion(metrics["confusion"], metrics["classes"], png_path, title=f"{Path(model_path).stem}: {metrics.get('part', '')}")
    files = {"metrics": str(metrics_path), "confusion": str(png_path)}
    write_json_atomic(metrics_path, metrics | {"files": files})
    return files


def evaluate(
    model_path: str | os.PathLike,
    dataset_root: str | os.PathLike,
    part: str = "test",
    *,
    backend: str = "auto",
    batch_size: int = 32,
    on_progress: ProgressFn | None = None,
    should_stop: StopFn | None = None,
) -> dict[str, Any]:
    """Score a model file on one split part; writes metrics.json + confusion.png beside the model."""
    from .artifact import ModelError
    from .predict import Predictor
    from .train_cache import check_classes_on_disk

    root = require_dataset(dataset_root)
    classes, rows = read_split(root, part)
    if not rows:
        raise DatasetError(f"The {part} split of {root} is empty: nothing to evaluate.", code="empty_split")
    predictor = Predictor.load(model_path, backend=backend)
    if list(classes) != predictor.classes:
        raise ModelError(
            f"The model knows classes {predictor.classes}, the dataset has {classes}: they must match.",
            code="model_incompatible",
        )
    check_classes_on_disk(root, classes)
    labels, files, probs, skipped = [], [], [], []
    report(on_progress, "evaluate", 0, len(rows))
    for start in range(0, len(rows), batch_size):
        images, batch = [], []
        for rel, label in rows[start : start + batch_size]:
            check_stop(should_stop)
            try:
                images.append(load_image(root / rel, target=predictor.size))
            except ImageError as exc:
                skipped.append({"file": rel, "reason": exc.message})
                continue
            batch.append((rel, label))
        if images:
            probs.append(predictor.probabilities(images))
            files += [r for r, _ in batch]
            labels += [lab for _, lab in batch]
        report(on_progress, "evaluate", min(start + batch_size, len(rows)), len(rows))
    if not labels:
        raise DatasetError(f"None of the {len(rows)} {part} pictures could be read.", code="empty_split")
    metrics = compute_metrics(labels, np.concatenate(probs), classes, files)
    metrics |= {"part": part, "dataset": str(root), "backend": predictor.backend, "skipped": skipped}
    metrics["files"] = write_report(model_path, metrics)
    return metrics
