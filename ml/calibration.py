"""Is a model's confidence honest? Reliability bins and expected calibration error, numpy only.

A model that says "90%" should be right nine times in ten. The top-1 confidences are grouped into
`n_bins` equal-width bins over (0, 1]; in each bin, the mean confidence is compared with the
fraction that was right. The expected calibration error (ECE, Guo et al., ICML 2017) is the
weighted mean gap: sum over bins of (pictures in bin / all pictures) × |accuracy − confidence|.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

#: Equal-width bins over the top-1 confidence, as in Guo et al. (and most papers since).
DEFAULT_BINS = 15


def top1(labels: Sequence[int], probs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """`(confidence, correct)`: the top probability of each row and whether its class is the true one."""
    y = np.asarray(labels, dtype=np.int64)
    p = np.asarray(probs, dtype=np.float64).reshape(len(y), -1)
    if not len(y):
        return np.zeros(0), np.zeros(0, dtype=bool)
    return p.max(axis=1), p.argmax(axis=1) == y


def bin_index(confidence: np.ndarray, n_bins: int = DEFAULT_BINS) -> np.ndarray:
    """The bin of each confidence: bin i holds i/n < c <= (i+1)/n (a confidence of exactly 0 joins bin 0)."""
    if n_bins < 1:
        raise ValueError("n_bins must be at least 1")
    conf = np.asarray(confidence, dtype=np.float64)
    return np.clip(np.ceil(conf * n_bins).astype(np.int64) - 1, 0, n_bins - 1)


def reliability_bins(confidence: np.ndarray, correct: np.ndarray, n_bins: int = DEFAULT_BINS) -> list[dict[str, Any]]:
    """One record per bin `(lower, upper]`: how many pictures, their mean confidence and accuracy."""
    conf = np.asarray(confidence, dtype=np.float64)
    right = np.asarray(correct, dtype=bool)
    index = bin_index(conf, n_bins)
    bins = []
    for i in range(n_bins):
        inside = index == i
        count = int(inside.sum())
        bins.append({
            "lower": round(i / n_bins, 6), "upper": round((i + 1) / n_bins, 6), "count": count,
            "confidence": round(float(conf[inside].mean()), 4) if count else None,
            "accuracy": round(float(right[inside].mean()), 4) if count else None,
        })
    return bins


def expected_calibration_error(confidence: np.ndarray, correct: np.ndarray, n_bins: int = DEFAULT_BINS) -> float:
    """The weighted mean |accuracy − confidence| over equal-width bins (0 for no pictures)."""
    conf = np.asarray(confidence, dtype=np.float64)
    right = np.asarray(correct, dtype=bool)
    n = len(conf)
    if not n:
        return 0.0
    index = bin_index(conf, n_bins)
    conf_sum = np.bincount(index, weights=conf, minlength=n_bins)
    right_sum = np.bincount(index, weights=right.astype(np.float64), minlength=n_bins)
    return float(np.abs(right_sum - conf_sum).sum() / n)


def calibration(labels: Sequence[int], probs: np.ndarray, n_bins: int = DEFAULT_BINS) -> dict[str, Any]:
    """`{"ece", "mean_confidence", "reliability": [one record per bin]}` for these answers."""
    conf, right = top1(labels, probs)
    return {
        "ece": round(expected_calibration_error(conf, right, n_bins), 4),
        "mean_confidence": round(float(conf.mean()), 4) if len(conf) else 0.0,
        "reliability": reliability_bins(conf, right, n_bins),
    }
