"""Train a classifier on a split dataset (the original train.py, grown up).

    result = train("datasets/animals5", "instance/models", TrainConfig(arch="efficientnet_lite0"))
    result.model_path   # a self-describing model file, written atomically

The settings are declared once, torch-free, in `ml.operations.train.TrainConfig`; `resolve_config`
adds what needs torch (input size, device).

Modes: `linear` (frozen backbone, head trained on cached features) and `finetune` (whole network,
backbone at `backbone_lr_factor` × the head's learning rate, optional frozen warm-up). Runs are
seeded, cancellable within one step (`should_stop`), resumable from `last.pt`, and logged to
TensorBoard in the run folder.
"""

from __future__ import annotations

import random
import shutil
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from .artifact import library_versions, now_iso, save_artifact
from .choices import MODES
from .dataset.layout import read_metadata, read_split, require_dataset
from .device import pick_device
from .errors import DatasetError, MLError
from .evaluate import compute_metrics, write_report
from .models import build_model, get_arch
from .openset import calibrated_probabilities, fit_open_set, fit_temperature
from .operations.train import DEFAULT_EPOCHS, DEFAULT_LABEL_SMOOTHING, RESUMABLE_CHANGES, TrainConfig, run_folder
from .progress import ProgressFn, StopFn, report
from .train_cache import cache_split, check_classes_on_disk
from .train_loops import FineTune, LinearProbe
from .train_top import PROBE_EPOCHS, LastStages


def resolve_config(config: TrainConfig) -> TrainConfig:
    """A copy with defaults filled in (epochs, smoothing, probe epochs, image size, device), or MLError.

    The torch-free checks are `TrainConfig.validate()` (ml.operations.train); this adds what needs
    torch: the architecture's input size and the device. Codes: bad_config, unknown_arch,
    device_unavailable (cuda or mps asked for, none here).
    """
    cfg = config.validate()
    cfg = replace(cfg, epochs=cfg.epochs if cfg.epochs is not None else DEFAULT_EPOCHS.get(cfg.mode, 10))
    if cfg.label_smoothing is None:
        cfg = replace(cfg, label_smoothing=DEFAULT_LABEL_SMOOTHING.get(cfg.mode, 0.0))
    if cfg.probe_epochs is None:
        probe = {"finetune": 20, "last_stages": PROBE_EPOCHS}.get(cfg.mode, 0)
        cfg = replace(cfg, probe_epochs=probe if cfg.pretrained == "imagenet" else 0)
    if cfg.image_size is None:
        cfg = replace(cfg, image_size=get_arch(cfg.arch).input_size)
    get_arch(cfg.arch)
    return replace(cfg, device=pick_device(cfg.device, cfg.amp).type).validate()


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


def holdout(rows: list[tuple[str, int]], fraction: float, seed: int) -> tuple[list, list]:
    """Split training rows into (train, validation), stratified, at least 1 per class of 5 or more."""
    rng = random.Random(seed)
    keep, held = [], []
    by_label: dict[int, list] = {}
    for row in rows:
        by_label.setdefault(row[1], []).append(row)
    for label in sorted(by_label):
        group = by_label[label][:]
        rng.shuffle(group)
        n = round(len(group) * fraction) if len(group) >= 5 else 0
        n = max(n, 1) if len(group) >= 5 else 0
        held += group[:n]
        keep += group[n:]
    return sorted(keep), sorted(held)


def _normalisation(cfg: TrainConfig, root: Path, train_pixels: np.ndarray) -> tuple[list[float], list[float]]:
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


def _load_resume(run_dir: Path, cfg: TrainConfig) -> dict[str, Any] | None:
    last = run_dir / "last.pt"
    if not last.exists():
        raise MLError(f"Nothing to resume: {last} does not exist.", code="nothing_to_resume")
    try:
        state = torch.load(last, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001
        raise MLError(f"{last} cannot be read to resume ({str(exc)[:200]}).", code="nothing_to_resume") from None
    before = {k: v for k, v in state["config"].items() if k not in RESUMABLE_CHANGES}
    now = {k: v for k, v in asdict(cfg).items() if k not in RESUMABLE_CHANGES}
    changed = sorted(k for k in now if before.get(k) != now[k])
    if changed:
        raise MLError(f"Cannot resume with changed settings: {', '.join(changed)}.", code="resume_mismatch")
    return state


def _fit_confidence(cfg: TrainConfig, loop, splits, on_progress) -> dict[str, Any]:
    """Temperature and open-set check fitted on the validation part (none without one)."""
    if not cfg.open_set or "val" not in splits:
        return {"calibration": None, "open_set": None}
    report(on_progress, "calibrate", 0, 1)
    val_logits, val_labels = loop.logits("val")
    temperature = fit_temperature(val_logits.float().numpy(), val_labels.numpy())
    train_features, train_labels = loop.centre_features("train")
    val_features, _ = loop.centre_features("val")
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
    from .train_run import Run

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
    if cfg.resume and not (run_dir / "last.pt").exists():
        raise MLError(f"Nothing to resume: {run_dir / 'last.pt'} does not exist.", code="nothing_to_resume")
    run_dir.mkdir(parents=True, exist_ok=True)
    resume_state = _load_resume(run_dir, cfg) if cfg.resume else None
    seed_everything(cfg.seed)

    train_size = round(cfg.image_size * 8 / 7) if cfg.mode == "finetune" and cfg.augment else cfg.image_size
    cache_dir = run_dir / "cache"
    splits = {"train": cache_split(root, train_rows, train_size, cache_dir, "train", on_progress=on_progress, should_stop=should_stop)}
    for part, rows in (("val", val_rows), ("test", test_rows)):
        if rows:
            splits[part] = cache_split(root, rows, cfg.image_size, cache_dir, part, on_progress=on_progress, should_stop=should_stop)
    counts = np.bincount(splits["train"].labels, minlength=len(classes))
    empty = [classes[i] for i in np.flatnonzero(counts == 0)]
    if empty:
        raise DatasetError(f"No readable training pictures for class(es): {', '.join(empty)}.", code="class_empty")

    device = pick_device(cfg.device, cfg.amp)
    model = build_model(cfg.arch, len(classes), pretrained=cfg.pretrained, weights_file=cfg.weights_file).to(device.torch)
    mean, std = _normalisation(cfg, root, splits["train"].pixels)
    if cfg.mode == "last_stages":
        loop = LastStages(model, cfg.arch, mean, std, cfg.batch_size, cfg.augment,
                          0 if resume_state else cfg.probe_epochs, device=device)
    elif cfg.mode == "linear":
        loop = LinearProbe(model, cfg.arch, mean, std, cfg.batch_size, cfg.augment, device=device)
    else:
        loop = FineTune(model, cfg.arch, mean, std, cfg.batch_size, cfg.augment, cfg.image_size, cfg.warmup_epochs,
                        0 if resume_state else cfg.probe_epochs, device=device)
    loop.prepare(splits, on_progress, should_stop)
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
    run = Run(cfg, loop, model, criterion, run_dir, meta, classes, on_progress, should_stop, device)
    run.fit(resume_state)

    # Score the best epoch on the held-out test part (val, or train as a last resort).
    run.restore_best()
    meta |= _fit_confidence(cfg, loop, splits, on_progress)
    part = "test" if "test" in splits else ("val" if "val" in splits else "train")
    logits, labels = loop.logits(part)
    probs = calibrated_probabilities(logits.float().numpy(), meta)
    metrics = compute_metrics(labels.numpy(), probs, classes, splits[part].files)
    # Cut from the training photos' own sources: an in-source figure (flask evaluate --kind out_of_source for others).
    metrics |= {"part": part, "kind": "in_source", "dataset": str(root), "backend": "torch", "skipped": splits[part].skipped}
    run.log_confusion(metrics)
    summary = {k: v for k, v in metrics.items() if k not in ("misclassified", "skipped", "dataset")}
    meta |= {"metrics": summary, "created": now_iso(), "history": run.history, "best_epoch": run.best_epoch,
             "train_seconds": round(time.monotonic() - run.started, 1)}
    model_path = save_artifact(out_dir / f"{name}.pt", model.state_dict(), meta)
    metrics["files"] = write_report(model_path, metrics)
    run.close()
    result = TrainResult(model_path, metrics, run_dir, asdict(cfg), run.history, run.best_epoch,
                         time.monotonic() - run.started)
    # The decoded pixels served this run only (a resume or a new run re-decodes, keyed on the files):
    # a kept model folder must not carry them. A cancelled or failed run keeps them for its resume.
    del splits, loop, run  # the memory maps into the cache
    shutil.rmtree(cache_dir, ignore_errors=True)
    return result


__all__ = ["DEFAULT_EPOCHS", "DEFAULT_LABEL_SMOOTHING", "MODES", "RESUMABLE_CHANGES", "TrainConfig", "TrainResult",
           "holdout", "resolve_config", "seed_everything", "train"]
