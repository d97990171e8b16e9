"""Train a classifier on a split dataset (the original train.py, grown up): `train()`.

    result = train("datasets/animals5", "instance/models", TrainConfig(arch="efficientnet_lite0"))
    result.model_path   # a self-describing model file, written atomically

The run reads the split (`ml.training.data`), lets the strategy the mode names learn
(`ml.training.strategy`) in the epoch loop (`ml.training.loop`), scores the best epoch on the test
part, fits the confidence checks and writes the model file with its report. Runs are seeded,
cancellable within one step (`should_stop`), resumable from `last.pt` while unfinished, and logged
to TensorBoard in the run folder. When the run ends its pixel cache is deleted (done, failed or
cancelled); a finished run also deletes its checkpoints, so the run folder keeps only the logs.
"""

from __future__ import annotations

import random
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ..artifact import library_versions, now_iso, save_artifact
from ..dataset.layout import check_classes_on_disk, read_metadata, read_split, require_dataset
from ..device import pick_device
from ..errors import DatasetError, MLError
from ..evaluate import compute_metrics, write_report
from ..models import build_model, get_arch
from ..openset import calibrated_probabilities, fit_open_set, fit_temperature
from ..operations.train import run_folder
from ..progress import ProgressFn, StopFn, report
from .config import TrainConfig, resolve_config
from .data import CACHE_DIR, CachedSplit, cache_split, holdout
from .loop import TrainingLoop, load_checkpoint, remove_checkpoints
from .strategy import Strategy, make_strategy


@dataclass
class TrainResult:
    """What a finished training produced."""

    model_path: Path
    metrics: dict[str, Any]
    run_dir: Path
    config: dict[str, Any] = field(default_factory=dict)
    history: list[dict[str, Any]] = field(default_factory=list)
    best_epoch: int = 0
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "model_path": str(self.model_path), "metrics": self.metrics, "run_dir": str(self.run_dir),
            "config": self.config, "history": self.history, "best_epoch": self.best_epoch,
            "seconds": round(self.seconds, 1),
        }


def seed_everything(seed: int) -> None:
    """Seed Python, numpy and torch so the same settings give the same model."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def _mean_std(cfg: TrainConfig, root: Path, train_pixels: np.ndarray) -> tuple[list[float], list[float]]:
    """The mean/std the model normalises with: ImageNet's when pretrained, else the training pictures' own."""
    if cfg.pretrained == "imagenet":
        spec = get_arch(cfg.arch)
        return list(spec.mean), list(spec.std)
    stats = read_metadata(root).get("stats") or {}
    if stats.get("mean") and stats.get("std"):
        return [float(v) for v in stats["mean"]], [float(v) for v in stats["std"]]
    flat = np.asarray(train_pixels, dtype=np.float64).reshape(-1, 3) / 255.0
    return [round(float(v), 6) for v in flat.mean(0)], [round(max(float(v), 1e-3), 6) for v in flat.std(0)]


def _class_weights(cfg: TrainConfig, labels: np.ndarray, n: int) -> torch.Tensor | None:
    if cfg.class_weights != "balanced":
        return None
    counts = np.bincount(labels, minlength=n).astype(np.float64)
    return torch.tensor(len(labels) / (n * np.maximum(counts, 1)), dtype=torch.float32)


def _fit_confidence(cfg: TrainConfig, strategy: Strategy, splits, on_progress) -> dict[str, Any]:
    """Temperature and open-set check fitted on the validation part (none without one)."""
    if not cfg.open_set or "val" not in splits:
        return {"calibration": None, "open_set": None}
    report(on_progress, "calibrate", 0, 1)
    val_logits, val_labels = strategy.logits("val")
    temperature = fit_temperature(val_logits.float().numpy(), val_labels.numpy())
    train_features, train_labels = strategy.centre_features("train")
    val_features, _ = strategy.centre_features("val")
    open_set = fit_open_set(train_features.numpy(), train_labels.numpy(), val_features.numpy(),
                            val_logits.float().numpy(), rate=cfg.unknown_rate, seed=cfg.seed)
    report(on_progress, "calibrate", 1, 1, temperature=temperature)
    return {"calibration": {"temperature": temperature, "fitted_on": len(val_labels)},
            "open_set": open_set | {"temperature": temperature}}


def train(
    dataset_root,
    out_dir,
    config: TrainConfig | None = None,
    *,
    on_progress: ProgressFn | None = None,
    should_stop: StopFn | None = None,
    run_dir=None,
) -> TrainResult:
    """Train, keep the best epoch by validation accuracy, score it on test, write the model file."""
    cfg = resolve_config(config or TrainConfig())
    root = require_dataset(dataset_root)
    classes, train_rows = read_split(root, "train")
    _, val_rows = read_split(root, "val")
    _, test_rows = read_split(root, "test")
    check_classes_on_disk(root, classes)
    if cfg.display_names:
        for lang, names in cfg.display_names.items():
            if not isinstance(names, list) or len(names) != len(classes):
                raise MLError(f"display_names[{lang!r}] must give one name for each of the {len(classes)} classes.", code="bad_config")
    if not val_rows and cfg.val_fraction > 0:
        train_rows, val_rows = holdout(train_rows, cfg.val_fraction, cfg.seed)
    name = cfg.run_name()
    out_dir = Path(out_dir)
    run_dir = Path(run_dir) if run_dir else run_folder(out_dir, name)
    resume_state = load_checkpoint(run_dir, cfg) if cfg.resume else None
    run_dir.mkdir(parents=True, exist_ok=True)
    seed_everything(cfg.seed)
    parts = {"train": train_rows, "val": val_rows, "test": test_rows}
    try:
        return _run(cfg, root, classes, parts, out_dir / f"{name}.pt", run_dir, resume_state, on_progress, should_stop)
    finally:
        # The decoded pixels serve this run only (keyed on the files, so a resume decodes again):
        # finished, failed or cancelled, they go, and no kept model folder carries them.
        shutil.rmtree(run_dir / CACHE_DIR, ignore_errors=True)


def _cache_parts(cfg: TrainConfig, root: Path, parts: dict[str, list], run_dir: Path, on_progress, should_stop
                 ) -> dict[str, CachedSplit]:
    """Each non-empty split part decoded once (training pictures larger when fine-tuning crops them)."""
    train_size = round(cfg.image_size * 8 / 7) if cfg.mode == "finetune" and cfg.augment else cfg.image_size
    splits = {}
    for part, rows in parts.items():
        if rows or part == "train":
            splits[part] = cache_split(root, rows, train_size if part == "train" else cfg.image_size, run_dir / CACHE_DIR,
                                       part, on_progress=on_progress, should_stop=should_stop)
    return splits


def _run(cfg: TrainConfig, root: Path, classes: list[str], parts: dict[str, list], model_path: Path, run_dir: Path,
         resume_state: dict | None, on_progress, should_stop) -> TrainResult:
    splits = _cache_parts(cfg, root, parts, run_dir, on_progress, should_stop)
    counts = np.bincount(splits["train"].labels, minlength=len(classes))
    empty = [classes[i] for i in np.flatnonzero(counts == 0)]
    if empty:
        raise DatasetError(f"No readable training pictures for class(es): {', '.join(empty)}.", code="class_empty")

    device = pick_device(cfg.device, cfg.amp)
    model = build_model(cfg.arch, len(classes), pretrained=cfg.pretrained, weights_file=cfg.weights_file).to(device.torch)
    mean, std = _mean_std(cfg, root, splits["train"].pixels)
    strategy = make_strategy(cfg, model, mean, std, device, resuming=resume_state is not None,
                             cache_dir=run_dir / CACHE_DIR)  # deleted with the pixel cache when the run ends
    strategy.prepare(splits, on_progress, should_stop)
    meta = {
        "arch": cfg.arch, "classes": list(classes), "display_names": cfg.display_names or {},
        "input_size": cfg.image_size, "mean": mean, "std": std, "pretrained": cfg.pretrained,
        "train_config": asdict(cfg),
        "dataset": {
            "root": str(root), "fingerprint": (read_metadata(root).get("split") or {}).get("fingerprint"),
            "counts": {p: len(s) for p, s in splits.items()},
            "skipped": [s for split in splits.values() for s in split.skipped],
        },
        "versions": library_versions(), "device": device.as_meta(),
    }
    weights = _class_weights(cfg, splits["train"].labels, len(classes))
    criterion = nn.CrossEntropyLoss(weight=None if weights is None else weights.to(device.torch),
                                    label_smoothing=cfg.label_smoothing)
    loop = TrainingLoop(cfg, strategy, model, criterion, run_dir, meta, classes, on_progress, should_stop, device,
                        has_val="val" in splits)
    loop.fit(resume_state)

    # Score the best epoch on the held-out test part (val, or train as a last resort).
    loop.restore_best()
    meta |= _fit_confidence(cfg, strategy, splits, on_progress)
    part = "test" if "test" in splits else ("val" if "val" in splits else "train")
    logits, labels = strategy.logits(part)
    probs = calibrated_probabilities(logits.float().numpy(), meta)
    metrics = compute_metrics(labels.numpy(), probs, classes, splits[part].files)
    # Cut from the training photos' own sources: an in-source figure (flask evaluate --kind out_of_source for others).
    metrics |= {"part": part, "kind": "in_source", "dataset": str(root), "backend": "torch", "skipped": splits[part].skipped}
    loop.log_confusion(metrics)
    summary = {k: v for k, v in metrics.items() if k not in ("misclassified", "skipped", "dataset")}
    meta |= {"metrics": summary, "created": now_iso(), "history": loop.history, "best_epoch": loop.best_epoch,
             "wise": loop.wise,
             "train_seconds": round(time.monotonic() - loop.started, 1)}
    model_path = save_artifact(model_path, model.state_dict(), meta)
    metrics["files"] = write_report(model_path, metrics)
    loop.close()
    remove_checkpoints(run_dir)  # the model file holds the best epoch; nothing is left to resume
    return TrainResult(model_path, metrics, run_dir, asdict(cfg), loop.history, loop.best_epoch,
                       time.monotonic() - loop.started)


__all__ = ["TrainResult", "seed_everything", "train"]
