"""How a model's training went, epoch by epoch, read from the JSON metadata exported beside it.

    training_history("models/default/animals5.pt")
    → {"epochs": [{"epoch": 1, "loss": 0.03, "accuracy": 0.99, "val_loss": 0.11, "val_accuracy": 0.97}, ...],
       "best_epoch": 2, "train_seconds": 412.0}

Training records one row per epoch (training loss and accuracy, and validation loss and accuracy
when there is a validation part) in the model file's metadata; the ONNX export copies that
metadata to `<stem>.json`, which is read here so no page needs torch to draw the curves.
"""

from __future__ import annotations

import json
import os
from typing import Any

from .predict import onnx_paths

#: The per-epoch figures a chart may draw, in the order they are listed.
CURVE_KEYS = ("loss", "val_loss", "accuracy", "val_accuracy")


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def training_history(model_path: str | os.PathLike) -> dict[str, Any] | None:
    """Per-epoch training figures of a model (from `<stem>.json`), or None when it has no record."""
    _onnx, sidecar = onnx_paths(model_path)
    try:
        meta = json.loads(sidecar.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    rows = meta.get("history") if isinstance(meta, dict) else None
    if not isinstance(rows, list):
        return None
    epochs = []
    for row in rows:
        if not isinstance(row, dict) or _number(row.get("epoch")) is None:
            continue
        epochs.append({"epoch": int(row["epoch"]), **{k: _number(row.get(k)) for k in CURVE_KEYS}})
    if not epochs:
        return None
    return {"epochs": epochs, "best_epoch": meta.get("best_epoch"), "train_seconds": _number(meta.get("train_seconds"))}


__all__ = ["CURVE_KEYS", "training_history"]
