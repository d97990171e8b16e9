"""Honest confidence and "none of my classes": temperature scaling and an open-set score.

Both are fitted at training time on held-out data and travel in the model file's metadata:

    meta["calibration"] = {"temperature": 1.7}
    meta["open_set"]    = {"method": "energy", "threshold": -4.2, ...}

`calibrated_probabilities(logits, meta)` divides the logits by the temperature before softmax;
`unknown_scores(logits, features, meta["open_set"])` gives one score per picture (higher: less
like any training class) and `flag_unknown` compares it with the stored threshold. A model file
written before this existed has neither key: probabilities use temperature 1 and the unknown flag
is `None` ("not available"). Pure numpy: the ONNX-only desktop install uses it too.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any

import numpy as np

from .errors import MLError

#: Score methods that need only the logits; the others also need the pooled features.
LOGIT_METHODS = ("msp", "energy")
FEATURE_METHODS = ("knn",)
METHODS = LOGIT_METHODS + FEATURE_METHODS


def temperature_of(meta: Mapping[str, Any]) -> float:
    """The model's fitted softmax temperature (1.0 when it has none)."""
    value = (meta.get("calibration") or {}).get("temperature", 1.0)
    try:
        value = float(value)
    except (TypeError, ValueError):
        return 1.0
    return value if np.isfinite(value) and value > 0 else 1.0


def softmax_t(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """Row-wise softmax of `logits / temperature`, in float64 for stable small probabilities."""
    z = np.asarray(logits, dtype=np.float64) / temperature
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def calibrated_probabilities(logits: np.ndarray, meta: Mapping[str, Any]) -> np.ndarray:
    """Class probabilities with the model's temperature applied."""
    return softmax_t(logits, temperature_of(meta))


#: Sharpening limit of temperature scaling (a temperature below 1 makes probabilities more extreme).
MIN_TEMPERATURE = 0.25


def fit_temperature(logits: np.ndarray, labels: np.ndarray) -> float:
    """The temperature minimising negative log-likelihood on held-out `logits` (Guo et al., 2017)."""
    z = np.asarray(logits, dtype=np.float64)
    y = np.asarray(labels, dtype=np.int64)
    if len(y) == 0:
        return 1.0

    def nll(t: float) -> float:
        p = softmax_t(z, t)
        return float(-np.log(np.clip(p[np.arange(len(y)), y], 1e-12, 1)).mean())

    # NLL is unimodal in log T: a coarse grid, then golden-section refinement around its best point.
    grid = np.exp(np.linspace(np.log(MIN_TEMPERATURE), np.log(20), 61))
    best = int(np.argmin([nll(t) for t in grid]))
    lo, hi = np.log(grid[max(best - 1, 0)]), np.log(grid[min(best + 1, len(grid) - 1)])
    ratio = (np.sqrt(5) - 1) / 2
    for _ in range(40):
        a, b = hi - ratio * (hi - lo), lo + ratio * (hi - lo)
        if nll(np.exp(a)) < nll(np.exp(b)):
            hi = b
        else:
            lo = a
    fitted = float(np.exp((lo + hi) / 2))
    if (z.argmax(axis=1) == y).all():
        # With no mistake to learn from, NLL keeps falling as T shrinks: it would make the model
        # claim certainty it has not shown. Soften if asked, never sharpen.
        fitted = max(fitted, 1.0)
    return round(fitted, 4)


def encode_bank(vectors: np.ndarray) -> dict[str, Any]:
    """A feature bank as compact JSON: float16 bytes in base64, with its shape (a quarter of a float list)."""
    arr = np.ascontiguousarray(np.asarray(vectors, dtype="<f2"))
    return {"dtype": "float16", "shape": list(arr.shape), "base64": base64.b64encode(arr.tobytes()).decode("ascii")}


def decode_bank(bank: Any) -> np.ndarray:
    """A bank given as `encode_bank` output or as a list of vectors, as a float32 matrix (ValueError if neither)."""
    if isinstance(bank, dict):
        try:
            shape = tuple(int(v) for v in bank["shape"])
            raw = base64.b64decode(bank["base64"], validate=True)
            arr = np.frombuffer(raw, dtype="<f2").reshape(shape)
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"unreadable feature bank ({exc})") from None
        return arr.astype(np.float32)
    return np.asarray(bank, dtype=np.float32)


def bank_size(bank: Any) -> int | None:
    """How many vectors a stored bank holds, without decoding it."""
    if isinstance(bank, dict) and isinstance(bank.get("shape"), list) and bank["shape"]:
        return int(bank["shape"][0])
    return len(bank) if isinstance(bank, list) else None


def _normalise_rows(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def _centre_vector(centre: Any) -> np.ndarray:
    """A stored centre (`encode_bank` of one row, or a plain list) as one float32 row vector."""
    vec = centre if isinstance(centre, np.ndarray) else decode_bank(centre)
    return np.asarray(vec, dtype=np.float32).reshape(1, -1)


def unknown_scores(logits: np.ndarray, features: np.ndarray | None, params: Mapping[str, Any]) -> np.ndarray:
    """One open-set score per picture; higher means less like any class the model was trained on."""
    method = params.get("method")
    t = float(params.get("temperature", 1.0))
    z = np.asarray(logits, dtype=np.float64) / t
    if method == "msp":
        return -softmax_t(z).max(axis=1)
    if method == "energy":
        m = z.max(axis=1, keepdims=True)
        return -(m[:, 0] + np.log(np.exp(z - m).sum(axis=1)))
    if method == "knn":
        if features is None:
            raise MLError("This model's open-set check needs pooled features, which its export lacks.", code="model_incompatible")
        bank = params["bank"] if isinstance(params["bank"], np.ndarray) else decode_bank(params["bank"])
        k = int(params.get("k", 10))
        centre = params.get("centre")
        if centre is not None:
            # Mean-centred check: the bank holds unit vectors of (training feature - centre).
            features = np.asarray(features, dtype=np.float32) - _centre_vector(centre)
        sims = _normalise_rows(features) @ bank.T
        k = max(1, min(k, bank.shape[0]))
        kth = -np.partition(-sims, k - 1, axis=1)[:, k - 1]
        return 1.0 - kth
    raise MLError(f"Unknown open-set method {method!r}; this version knows {', '.join(METHODS)}.", code="model_incompatible")


def flag_unknown(logits: np.ndarray, features: np.ndarray | None, meta: Mapping[str, Any]) -> tuple[np.ndarray | None, np.ndarray | None]:
    """(flags, scores) for a batch; both `None` when the model carries no open-set threshold."""
    params = meta.get("open_set")
    if not params or "threshold" not in params:
        return None, None
    scores = unknown_scores(logits, features, params)
    return scores > float(params["threshold"]), scores


#: Defaults of the open-set check fitted by `ml.training` (chosen on held-out sources: docs/model.md).
KNN_K = 5
BANK_PER_CLASS = 120
UNKNOWN_RATE = 0.03
#: Validation pictures come from the training photos' own sources, so their nearest bank neighbours
#: are closer than a user's photo will find; scoring them by the (k + margin)-th neighbour instead
#: simulates that. 10 was chosen when training on one source (a large shift to the next source); with
#: several training sources and mean-centred features, 3 is the largest of 0/3/5/10 that still catches
#: 90% of the threshold half of others/ (bench/openset_compare.py, docs/model.md).
SHIFT_MARGIN = 3
#: Measure similarity around the training features' mean: the direction every photo shares carries
#: no class information, and removing it spreads photos of other things away from the bank.
CENTRED = True


def fit_open_set(
    train_features: np.ndarray,
    train_labels: np.ndarray,
    val_features: np.ndarray,
    val_logits: np.ndarray,
    *,
    k: int = KNN_K,
    per_class: int = BANK_PER_CLASS,
    rate: float = UNKNOWN_RATE,
    margin: int = SHIFT_MARGIN,
    centred: bool = CENTRED,
    seed: int = 0,
) -> dict[str, Any]:
    """A k-nearest-neighbour open-set check: a bank of training features and a threshold from validation.

    The score of a picture is 1 − (cosine similarity to its k-th nearest bank vector); the threshold
    lets through all but `rate` of the held-out validation pictures (all of known classes) when they
    are scored by their (k + margin)-th neighbour, a stand-in for photos from other sources. With
    `centred`, features are compared after subtracting the bank's mean (stored as `centre`).
    """
    feats = np.asarray(train_features, dtype=np.float32)
    labels = np.asarray(train_labels, dtype=np.int64)
    if not len(val_features):
        raise MLError("No validation pictures to fit the open-set check on.", code="empty_split")
    rng = np.random.default_rng(seed)
    keep = []
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        keep.append(np.sort(rng.choice(idx, size=min(per_class, len(idx)), replace=False)))
    chosen = feats[np.concatenate(keep)]
    # Round through float16 now, so the threshold is fitted on exactly what the model file stores.
    centre = chosen.mean(axis=0, keepdims=True).astype(np.float16).astype(np.float32) if centred else None
    bank = _normalise_rows(chosen - centre if centred else chosen)
    bank = bank.astype(np.float16).astype(np.float32)
    k = int(min(k, len(bank)))
    harsher = {"method": "knn", "k": int(min(k + margin, len(bank))), "bank": bank, "centre": centre}
    scores = unknown_scores(val_logits, val_features, harsher)
    out = {"method": "knn", "k": k, "threshold": round(threshold_for_rate(scores, rate), 6), "rate": rate,
           "margin": harsher["k"] - k, "fitted_on": int(len(scores)), "bank": encode_bank(bank)}
    if centred:
        out |= {"centred": True, "centre": encode_bank(centre)}
    return out


def threshold_for_rate(known_scores: np.ndarray, rate: float) -> float:
    """The score above which at most `rate` of the known (in-class) held-out pictures fall."""
    s = np.sort(np.asarray(known_scores, dtype=np.float64))
    if len(s) == 0:
        raise MLError("No held-out pictures to choose an open-set threshold on.", code="empty_split")
    return float(np.quantile(s, 1.0 - rate, method="higher"))


def auroc(known_scores: np.ndarray, unknown: np.ndarray) -> float:
    """Probability that an unknown picture scores above a known one (ties count half)."""
    a = np.asarray(known_scores, dtype=np.float64)
    b = np.asarray(unknown, dtype=np.float64)
    if not len(a) or not len(b):
        return float("nan")
    both = np.concatenate([a, b])
    order = both.argsort(kind="mergesort")
    ranks = np.empty(len(both))
    ranks[order] = np.arange(1, len(both) + 1)
    # Average ranks over ties.
    _, inverse, counts = np.unique(both, return_inverse=True, return_counts=True)
    sums = np.bincount(inverse, weights=ranks)
    ranks = (sums / counts)[inverse]
    return float((ranks[len(a):].sum() - len(b) * (len(b) + 1) / 2) / (len(a) * len(b)))


__all__ = [
    "METHODS", "auroc", "bank_size", "decode_bank", "encode_bank", "fit_open_set", "calibrated_probabilities", "fit_temperature", "flag_unknown", "softmax_t",
    "temperature_of", "threshold_for_rate", "unknown_scores",
]
