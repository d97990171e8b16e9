"""How good is a model: accuracy, top-k, per-class precision/recall/F1, calibration, per source.

`evaluate(model_path, dataset_root)` scores a model file with the very same preprocessing and
probabilities as prediction (`Predictor`), on a split part or on any folder of class folders
(`ml.evalset`), and writes `<stem>.metrics.json`, `<stem>.confusion.png` and
`<stem>.reliability.png` beside it (`<stem>.<folder>[.<kind>].*` for a folder or chosen sources,
so scoring other photos never overwrites the test-part figures the model card reads).
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .calibration import calibration
from .choices import EVAL_KINDS, EVAL_PARTS
from .dataset.layout import CLASSES_FILE, require_dataset, write_json_atomic
from .errors import DatasetError, MLError
from .evalset import EvalSet, choose_sources, class_folders, per_source, split_part
from .images import ImageError, load_image
from .operations.evaluate import report_files
from .progress import ProgressFn, StopFn, check_stop, report


def report_paths(model_path: str | os.PathLike, tag: str | None = None) -> tuple[Path, Path]:
    """Where evaluation writes its results for a model file: `<stem>.metrics.json`, `<stem>.confusion.png`."""
    files = report_files(model_path, tag)
    return files["metrics"], files["confusion"]


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
        **calibration(y, probs),
        "misclassified": mistakes,
    }


def write_report(model_path: str | os.PathLike, metrics: dict[str, Any], tag: str | None = None,
                 out_dir: str | os.PathLike | None = None) -> dict[str, str]:
    """Save metrics JSON, the confusion heatmap and the reliability diagram; return their paths."""
    from .plots import render_confusion, render_reliability

    paths = report_files(model_path, tag, out_dir)
    paths["metrics"].parent.mkdir(parents=True, exist_ok=True)
    title = f"{Path(model_path).stem}: {tag or metrics.get('part', '')}"
    render_confusion(metrics["confusion"], metrics["classes"], paths["confusion"], title=title)
    files = {"metrics": str(paths["metrics"]), "confusion": str(paths["confusion"])}
    if metrics.get("reliability"):
        render_reliability(metrics["reliability"], paths["reliability"], title=title, ece=metrics.get("ece"))
        files["reliability"] = str(paths["reliability"])
    write_json_atomic(paths["metrics"], metrics | {"files": files})
    return files


def choose_rows(dataset_root: str | os.PathLike, classes: list[str], part: str | None = None, *,
                only_sources: str | list[str] | None = None, exclude_sources: str | list[str] | None = None,
                skip_unknown_classes: bool = False) -> EvalSet:
    """The pictures to score: a split part, or (`part` "all", or None on an unsplit folder) every class folder."""
    if part not in (None, *EVAL_PARTS):
        raise MLError(f"part must be one of {', '.join(EVAL_PARTS)}, not {part!r}.", code="bad_config")
    root = require_dataset(dataset_root)
    if part is None:
        part = "test" if (root / CLASSES_FILE).is_file() else "all"
    if part == "all":
        chosen = class_folders(root, classes, skip_unknown=skip_unknown_classes)
    else:
        chosen = split_part(root, part, classes)
    return choose_sources(chosen, only_sources, exclude_sources)


def _report_tag(chosen: EvalSet, kind: str) -> str | None:
    """A split part reports as `<stem>.metrics.json` (what the model card reads); a folder under its own name."""
    if chosen.part != "all" and not chosen.filters:
        return None
    parts = [chosen.root.resolve().name, *([chosen.part] if chosen.part != "all" else []),
             *([kind] if kind != "unknown" else [])]
    return ".".join(re.sub(r"[^\w-]+", "_", p) for p in parts)


def _torch_device(device: str, backend: str) -> str:
    """Where the torch backend runs: `device` resolved, or the CPU when onnxruntime was asked for."""
    if backend == "onnx" and device in ("auto", "cpu"):
        return "cpu"  # onnxruntime runs on the CPU here, and needs no torch to find that out
    from .device import pick_device

    return pick_device(device, amp=False).type


def evaluate(
    model_path: str | os.PathLike,
    dataset_root: str | os.PathLike,
    part: str | None = None,
    *,
    backend: str = "auto",
    device: str = "auto",
    batch_size: int = 32,
    only_sources: str | list[str] | None = None,
    exclude_sources: str | list[str] | None = None,
    skip_unknown_classes: bool = False,
    kind: str = "unknown",
    tag: str | None = None,
    out_dir: str | os.PathLike | None = None,
    on_progress: ProgressFn | None = None,
    should_stop: StopFn | None = None,
) -> dict[str, Any]:
    """Score a model file on a split part or a folder of class folders; write metrics, confusion, reliability.

    `part` None picks the test part of a split dataset and every picture of an unsplit folder;
    "all" scores every picture in the class folders either way. `only_sources`/`exclude_sources` keep or
    drop pictures by the source SOURCES.csv names; `kind` ("in_source", "out_of_source") is recorded.
    """
    from .predict import Predictor

    if kind not in EVAL_KINDS:
        raise MLError(f"kind must be one of {', '.join(EVAL_KINDS)}, not {kind!r}.", code="bad_config")
    torch_device = _torch_device(device, backend)
    predictor = Predictor.load(model_path, backend=backend, device=torch_device)
    chosen = choose_rows(dataset_root, predictor.classes, part, only_sources=only_sources, exclude_sources=exclude_sources,
                         skip_unknown_classes=skip_unknown_classes)
    root, rows = chosen.root, chosen.rows
    labels, files, probs, flags, skipped = [], [], [], [], []
    for images, batch in image_batches(root, rows, predictor.size, batch_size, skipped, on_progress, should_stop):
        batch_probs, batch_flags = _score(predictor, images)
        probs.append(batch_probs)
        flags.append(batch_flags)
        files += [r for r, _ in batch]
        labels += [lab for _, lab in batch]
    if not labels:
        raise DatasetError(f"None of the {len(rows)} pictures to evaluate in {root} could be read.",
                           code="empty_split")
    probs = np.concatenate(probs)
    unknown = np.concatenate(flags) if predictor.has_open_set else None
    metrics = compute_metrics(labels, probs, predictor.classes, files)
    metrics |= {"part": chosen.part, "kind": kind, "dataset": str(root), "backend": predictor.backend,
                "device": "cpu" if predictor.backend == "onnx" else torch_device,
                "unknown": _unknown_summary(predictor, unknown),
                "per_source": per_source(chosen, files, labels, probs, unknown),
                "sources": chosen.filters, "notes": chosen.notes, "skipped": skipped}
    metrics["files"] = write_report(model_path, metrics, tag or _report_tag(chosen, kind), out_dir)
    return metrics


def image_batches(root: Path, rows: Sequence[tuple[str, Any]], size: int, batch_size: int, skipped: list[dict],
                  on_progress: ProgressFn | None = None, should_stop: StopFn | None = None):
    """Yield (decoded pictures, their rows) batch by batch; unreadable files go to `skipped` with the reason."""
    report(on_progress, "evaluate", 0, len(rows))
    for start in range(0, len(rows), batch_size):
        images, batch = [], []
        for row in rows[start : start + batch_size]:
            check_stop(should_stop)
            try:
                images.append(load_image(root / row[0], target=size))
            except ImageError as exc:
                skipped.append({"file": row[0], "reason": exc.message, "code": exc.code})
                continue
            batch.append(row)
        if images:
            yield images, batch
        report(on_progress, "evaluate", min(start + batch_size, len(rows)), len(rows))


def _score(predictor, images: list) -> tuple[np.ndarray, np.ndarray | None]:
    """Prediction's probabilities, one row per picture, and its unknown flags when the model has the check."""
    if not predictor.has_open_set:
        return predictor.probabilities(images), None
    classes = predictor.classes
    answers = predictor.classify_many(images, k=len(classes), batch_size=len(images))
    probs = np.array([[dict(a.top_k)[c] for c in classes] for a in answers])
    return probs, np.array([bool(a.unknown) for a in answers])


def _unknown_summary(predictor, unknown: np.ndarray | None) -> dict[str, Any]:
    """How many of these photos of known classes the open-set check called unknown (lower is better)."""
    if unknown is None:
        return {"available": False}
    return {"available": True, "method": (predictor.info.get("open_set") or {}).get("method"),
            "flagged": int(unknown.sum()), "rate": round(float(unknown.mean()), 4)}
