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


#: The training settings a comparison shows side by side, in this order (from the metadata's train_config).
RECIPE_KEYS = ("mode", "pretrained", "epochs", "lr", "batch_size", "image_size", "optimizer", "schedule",
               "weight_decay", "label_smoothing", "class_weights", "augment", "seed")


def _sidecar(model_path: str | os.PathLike) -> dict[str, Any] | None:
    _onnx, sidecar = onnx_paths(model_path)
    try:
        meta = json.loads(sidecar.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return meta if isinstance(meta, dict) else None


def training_facts(model_path: str | os.PathLike) -> dict[str, Any]:
    """How a model was made, from `<stem>.json`: the recipe (RECIPE_KEYS), the dataset (root, fingerprint,
    counts per part) and when; {} for each part the metadata lacks."""
    meta = _sidecar(model_path) or {}
    config = meta.get("train_config") if isinstance(meta.get("train_config"), dict) else {}
    dataset = meta.get("dataset") if isinstance(meta.get("dataset"), dict) else {}
    return {"recipe": {k: config[k] for k in RECIPE_KEYS if k in config},
            "dataset": {k: dataset[k] for k in ("root", "fingerprint", "counts") if k in dataset},
            "created": meta.get("created") if isinstance(meta.get("created"), str) else None}


def training_config(model_path: str | os.PathLike) -> dict[str, Any]:
    """Every training setting a model was made with (`<stem>.json`'s train_config, as resolved: the device it ran
    on, the epochs and image size filled in); {} when the metadata has none."""
    config = (_sidecar(model_path) or {}).get("train_config")
    return dict(config) if isinstance(config, dict) else {}


def training_history(model_path: str | os.PathLike) -> dict[str, Any] | None:
    """Per-epoch training figures of a model (from `<stem>.json`), or None when it has no record."""
    meta = _sidecar(model_path)
    rows = meta.get("history") if meta else None
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


__all__ = ["CURVE_KEYS", "RECIPE_KEYS", "training_config", "training_facts", "training_history"]
