"""Suspect pictures before training: far from their own class, or nearer another class, in a model's features.

    result = find_suspects(root, model_path=None)      # every picture embedded, then judged
    write_suspects(root, result); read_suspects(root)  # <dataset>/.review/suspects.json
    read_decisions(root)["done"]                       # set by the review page's "Done reviewing"

The features are the given model file's pooled features (its unknown score too, when it carries an
open-set check), or, without a model, a frozen ImageNet backbone's. `judge` is pure numpy: each
picture is compared with the leave-one-out centroid of its own class and the centroids of the others,
and with its k nearest neighbours. Torch is imported only inside `embed_*`, so the web app may read
the stored result with this module.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from .dataset import list_class_files, list_classes
from .errors import MLError
from .files import write_json_atomic
from .progress import ProgressFn, StopFn, check_stop, report

#: Where the review's files live inside a dataset folder (hidden: never a class).
REVIEW_DIR = ".review"
SUSPECTS_FILE = "suspects.json"
#: What the administrator decided (the web app's review page writes it): `kept`, `undo`, `done`.
DECISIONS_FILE = "decisions.json"
#: Why a picture is suspect, as stored (the web app words them).
REASONS = ("closer_to", "far", "unknown", "unreadable")
#: Neighbours the nearest-class check asks, and the share of them one other class must hold.
KNN_K = 5
KNN_SHARE = 0.8
#: A picture is "far" when its distance to its class centroid exceeds the class median by this many
#: robust standard deviations (1.4826 × MAD) and by at least FAR_FLOOR (tight classes have a tiny MAD).
FAR_Z = 3.0
FAR_FLOOR = 0.05
#: A class needs this many pictures for its spread to mean anything.
MIN_CLASS = 4
BATCH = 32


def suspects_path(root: str | Path) -> Path:
    """`<dataset>/.review/suspects.json`."""
    return Path(root) / REVIEW_DIR / SUSPECTS_FILE


def _unit(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


#: Rows of the similarity matrix computed at once (memory: KNN_CHUNK × pictures numbers).
KNN_CHUNK = 1024


def _nearest(x: np.ndarray, k: int) -> np.ndarray:
    """Indices of each row's `k` most similar other rows, a chunk of rows at a time."""
    out = np.empty((len(x), k), dtype=np.int64)
    for start in range(0, len(x), KNN_CHUNK):
        sims = x[start : start + KNN_CHUNK] @ x.T
        rows = np.arange(len(sims))
        sims[rows, start + rows] = -np.inf
        out[start : start + len(sims)] = np.argpartition(-sims, k - 1, axis=1)[:, :k]
    return out


def judge(features: np.ndarray, labels: Sequence[int], n_classes: int, *, k: int = KNN_K) -> list[dict[str, Any]]:
    """Per picture: `reasons` ("closer_to", "far"), `nearest` other class index, `own`/`other` similarity, `score`.

    `own` is the cosine similarity to the centroid of the picture's class without the picture itself,
    `other` the best one among the other classes. "closer_to" when another class's centroid is nearer,
    or when KNN_SHARE of its k nearest neighbours belong to one other class; "far" when the picture lies
    unusually far from its own class (see FAR_Z). `score` orders suspects, most doubtful first.
    """
    x = _unit(features)
    y = np.asarray(labels, dtype=np.int64)
    n = len(y)
    if n == 0:
        return []
    sums = np.zeros((n_classes, x.shape[1]))
    np.add.at(sums, y, x)
    counts = np.bincount(y, minlength=n_classes)
    cent = _unit(sums)
    sims = x @ cent.T  # to every class's centroid (own one includes the picture)
    own_sum = sums[y] - x
    own_count = counts[y] - 1
    own = np.where(own_count > 0, np.einsum("ij,ij->i", x, _unit(own_sum)), 1.0)
    others = sims.copy()
    others[np.arange(n), y] = -np.inf
    others[:, counts == 0] = -np.inf
    best = others.argmax(axis=1) if n_classes > 1 else np.zeros(n, dtype=np.int64)
    other = others[np.arange(n), best] if n_classes > 1 else np.full(n, -1.0)

    kk = max(1, min(k, n - 1))
    knn = _nearest(x, kk) if n > 1 else np.zeros((n, 0), dtype=np.int64)

    dist = 1.0 - own
    far = np.zeros(n, dtype=bool)
    far_z = np.zeros(n)
    for c in range(n_classes):
        idx = np.flatnonzero(y == c)
        if len(idx) < MIN_CLASS:
            continue
        med = float(np.median(dist[idx]))
        spread = 1.4826 * float(np.median(np.abs(dist[idx] - med)))
        limit = med + max(FAR_Z * spread, FAR_FLOOR)
        far[idx] = dist[idx] > limit
        far_z[idx] = (dist[idx] - med) / max(spread, 1e-6)

    out = []
    for i in range(n):
        reasons, nearest = [], None
        votes = np.bincount(y[knn[i]], minlength=n_classes) if kk and n > 1 else np.zeros(n_classes, dtype=np.int64)
        votes[y[i]] = -1
        voted = int(votes.argmax())
        by_knn = n > 1 and votes[voted] >= KNN_SHARE * kk
        if n_classes > 1 and (other[i] > own[i] or by_knn):
            reasons.append("closer_to")
            nearest = int(best[i]) if other[i] > own[i] else voted
        if far[i]:
            reasons.append("far")
        score = max(float(other[i] - own[i]), 0.0) * 10 + (1.0 if by_knn else 0.0) + max(float(far_z[i]), 0.0) / FAR_Z
        out.append({"reasons": reasons, "nearest": nearest, "own": round(float(own[i]), 4),
                    "other": round(float(other[i]), 4), "score": round(score, 4)})
    return out


def _pictures(root: Path) -> tuple[list[str], list[str], list[int]]:
    classes = list_classes(root)
    files, labels = [], []
    for ci, cls in enumerate(classes):
        for rel in list_class_files(root, cls):
            files.append(rel)
            labels.append(ci)
    return classes, files, labels


def _load(root: Path, rels: list[str], size: int):
    """(decoded pictures, relative paths that could not be decoded) for one batch."""
    from .images import ImageError, load_image

    good, bad = [], []
    for rel in rels:
        try:
            good.append((rel, load_image(root / rel, min_size=1, target=size)))
        except (ImageError, OSError):
            bad.append(rel)
    return good, bad


def _embed(root: Path, files: list[str], size: int, forward, on_progress, should_stop, stage: str):
    """Features (and logits, when `forward` gives them) of every decodable picture, in batches."""
    feats, logits, kept, bad = [], [], [], []
    for start in range(0, len(files), BATCH):
        check_stop(should_stop)
        good, broken = _load(root, files[start : start + BATCH], size)
        bad.extend(broken)
        if good:
            f, z = forward([img for _rel, img in good])
            feats.append(np.asarray(f, dtype=np.float32))
            if z is not None:
                logits.append(np.asarray(z, dtype=np.float32))
            kept.extend(rel for rel, _img in good)
        report(on_progress, stage, min(start + BATCH, len(files)), len(files))
    f = np.concatenate(feats) if feats else np.zeros((0, 1), dtype=np.float32)
    z = np.concatenate(logits) if logits else None
    return kept, bad, f, z


def find_suspects(root: str | Path, *, model_path: str | Path | None = None, backbone: str | None = None,
                  image_size: int | None = None, on_progress: ProgressFn | None = None,
                  should_stop: StopFn | None = None) -> dict[str, Any]:
    """Embed every picture of dataset `root`, judge each against the classes; the result `write_suspects` stores.

    Without `model_path` a frozen `backbone` at `image_size` gives the features (`ml.operations.ReviewConfig`'s
    defaults when not given).
    """
    from .operations import ReviewConfig

    defaults = ReviewConfig()
    backbone, image_size = backbone or defaults.backbone, image_size or defaults.image_size
    root = Path(root)
    classes, files, labels = _pictures(root)
    if len(classes) < 2:
        raise MLError("The review compares classes: the dataset needs at least two.", code="too_few_classes")
    unknown = None
    if model_path is not None:
        from .openset import flag_unknown
        from .predict import Predictor

        predictor = Predictor.load(model_path)

        def forward(images):
            z, f = predictor.forward(images)
            if f is None:
                raise MLError(f"{Path(model_path).name}: its export gives no features; export it again.",
                              code="model_incompatible")
            return f, z

        kept, bad, feats, logits = _embed(root, files, predictor.size, forward, on_progress, should_stop, "embedding")
        if predictor.has_open_set and logits is not None and len(kept):
            unknown, _scores = flag_unknown(logits, feats, predictor.meta)
        source = {"kind": "model", "name": predictor.info.get("name") or Path(model_path).stem,
                  "path": str(model_path), "size": predictor.size}
    else:
        forward, size = backbone_forward(backbone, image_size)
        kept, bad, feats, _ = _embed(root, files, size, forward, on_progress, should_stop, "embedding")
        source = {"kind": "backbone", "name": backbone, "size": size}
    label_of = dict(zip(files, labels, strict=True))
    verdicts = judge(feats, [label_of[rel] for rel in kept], len(classes)) if kept else []
    suspects: dict[str, dict[str, Any]] = {}
    for i, (rel, v) in enumerate(zip(kept, verdicts, strict=True)):
        reasons = list(v["reasons"])
        if unknown is not None and bool(unknown[i]):
            reasons.append("unknown")
        if reasons:
            nearest = v["nearest"]
            suspects[rel] = {**v, "reasons": reasons, "nearest": classes[nearest] if nearest is not None else None}
    for rel in bad:
        suspects[rel] = {"reasons": ["unreadable"], "nearest": None, "score": 100.0}
    return {"version": 1, "time": datetime.now(UTC).isoformat(timespec="seconds"), "features": source,
            "classes": classes, "checked": len(kept) + len(bad), "suspects": suspects}


def backbone_forward(arch: str, size: int):
    """(pictures -> (pooled features, None), input size) of a frozen ImageNet backbone (torch, in the worker)."""
    import torch

    from .frozen import feature_runner
    from .models import build_model, get_arch
    from .transforms import normalise, to_square_uint8

    spec = get_arch(arch)
    model = build_model(arch, 2, pretrained="imagenet")
    run, _engine = feature_runner(model, arch, size)

    def forward(images):
        pixels = np.stack([to_square_uint8(img, size) for img in images])
        return run(torch.from_numpy(normalise(pixels, spec.mean, spec.std))).numpy(), None

    return forward, size


def write_suspects(root: str | Path, result: dict[str, Any]) -> Path:
    """Store a `find_suspects` result atomically in `<dataset>/.review/suspects.json`."""
    return write_json_atomic(suspects_path(root), result)


def decisions_path(root: str | Path) -> Path:
    """`<dataset>/.review/decisions.json`."""
    return Path(root) / REVIEW_DIR / DECISIONS_FILE


def read_decisions(root: str | Path) -> dict[str, Any]:
    """`{"kept": {path: {time, user}}, "undo": [action, ...], "done": {time, user} | None}` (empty when none yet).

    `done` is set when an administrator pressed "Done reviewing": a pipeline waiting at review reads it.
    """
    import json

    try:
        data = json.loads(decisions_path(root).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        data = {}
    if not isinstance(data, dict):
        data = {}
    kept = data.get("kept") if isinstance(data.get("kept"), dict) else {}
    undo = data.get("undo") if isinstance(data.get("undo"), list) else []
    return {"kept": kept, "undo": undo, "done": data.get("done") if isinstance(data.get("done"), dict) else None}


def read_suspects(root: str | Path) -> dict[str, Any] | None:
    """The stored result, or None when the review was never computed (or its file is unreadable)."""
    import json

    try:
        data = json.loads(suspects_path(root).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and isinstance(data.get("suspects"), dict) else None


__all__ = ["REASONS", "REVIEW_DIR", "backbone_forward", "decisions_path", "find_suspects", "judge", "read_decisions",
           "read_suspects", "suspects_path", "write_suspects"]
