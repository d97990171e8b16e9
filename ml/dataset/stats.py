"""Per-channel mean and std of the training split (the original calc_mean.py), streamed."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from datetime import UTC, datetime

import numpy as np

from ..errors import DatasetError
from ..images import ImageError, center_square, load_image
from ..progress import ProgressFn, StopFn, check_stop, report
from .layout import read_split, require_dataset, update_metadata


@dataclass
class ChannelStats:
    """Mean and standard deviation of R, G, B in [0, 1] over `images` pictures at `size` pixels."""

    mean: list[float]
    std: list[float]
    images: int
    pixels: int
    size: int
    skipped: int = 0

    def as_dict(self) -> dict:
        return asdict(self)


def stats(
    root: str | os.PathLike,
    *,
    size: int = 224,
    on_progress: ProgressFn | None = None,
    should_stop: StopFn | None = None,
) -> ChannelStats:
    """Compute channel mean/std over train.txt in constant memory and store them in dataset.json."""
    base = require_dataset(root)
    _, rows = read_split(base, "train")
    if not rows:
        raise DatasetError(f"{base} has an empty training split: nothing to measure.", code="empty_split")
    # Sums in float64 over integer pixel values: exact enough for millions of images.
    total = np.zeros(3, dtype=np.float64)
    total_sq = np.zeros(3, dtype=np.float64)
    pixels = images = skipped = 0
    report(on_progress, "stats", 0, len(rows))
    for done, (rel, _) in enumerate(rows, 1):
        check_stop(should_stop)
        try:
            arr = np.asarray(center_square(load_image(base / rel, target=size), size), dtype=np.float64) / 255.0
        except ImageError:
            skipped += 1  # moved or damaged since the split; the count is reported
            report(on_progress, "stats", done, len(rows), file=rel)
            continue
        flat = arr.reshape(-1, 3)
        total += flat.sum(axis=0)
        total_sq += (flat * flat).sum(axis=0)
        pixels += flat.shape[0]
        images += 1
        report(on_progress, "stats", done, len(rows), file=rel)
    if not images:
        raise DatasetError(f"None of the {len(rows)} training pictures in {base} could be read.", code="empty_split")
    mean = total / pixels
    std = np.sqrt(np.maximum(total_sq / pixels - mean * mean, 0.0))
    result = ChannelStats(
        mean=[round(float(m), 6) for m in mean],
        std=[round(float(s), 6) for s in std],
        images=images,
        pixels=pixels,
        size=size,
        skipped=skipped,
    )
    update_metadata(base, stats={**result.as_dict(), "time": datetime.now(UTC).isoformat(timespec="seconds")})
    return result
