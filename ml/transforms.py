"""Preprocessing shared by training, evaluation and prediction, in numpy/PIL only (no torch needed).

Training, evaluation and both prediction backends resize the same way: shorter side to the model's
input size, centre square cut out (`ml.images.center_square`), then normalised.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image

from .images import center_square


def to_square_uint8(img: Image.Image, size: int) -> np.ndarray:
    """The centre square of `img` at `size`×`size` as an HWC uint8 array."""
    return np.asarray(center_square(img if img.mode == "RGB" else img.convert("RGB"), size), dtype=np.uint8)


def normalise(batch_hwc: np.ndarray, mean: Sequence[float], std: Sequence[float], *,
              channels_last: bool = False) -> np.ndarray:
    """uint8 NHWC (or HWC) pixels to float32 NCHW (or CHW) with per-channel mean/std removed.

    The one normalisation: training (`ml.training.data.to_input`), evaluation, both prediction
    backends and the explanations call it, so a model sees the same numbers in training and in use
    (tests/test_normalisation.py fails on a second hand-written copy). One multiply-add per value
    ((x / 255 - mean) / std folded into x * scale + offset, written straight into the output): a
    tenth of the time of the step-by-step version. `channels_last`: the same values and shape, laid
    out NHWC in memory (torch's channels-last convolutions; `torch.from_numpy` keeps the strides).
    """
    std64 = np.asarray(std, dtype=np.float64)
    scale = (1.0 / (255.0 * std64)).astype(np.float32)
    offset = (-np.asarray(mean, dtype=np.float64) / std64).astype(np.float32)
    if channels_last:
        out = np.empty(np.shape(batch_hwc), dtype=np.float32)
        np.multiply(batch_hwc, scale, out=out)
        out += offset
        return np.moveaxis(out, -1, -3)
    chw = np.moveaxis(batch_hwc, -1, -3)
    out = np.empty(chw.shape, dtype=np.float32)
    np.multiply(chw, scale[:, None, None], out=out)
    out += offset[:, None, None]
    return out


def random_resized_crop(square: np.ndarray, rng: np.random.Generator, scale: tuple[float, float] = (0.35, 1.0)
                        ) -> np.ndarray:
    """A random crop of `scale` of a square HWC uint8 picture's area (aspect 3/4 to 4/3), resized back to
    the same square, mirrored half the time; the picture itself when ten draws find no crop that fits.

    What `--mode last_stages` adds to each training picture's centre and mirrored views (two such
    crops, bench/recipes_loso.py), so that the cached feature maps cover more than one framing.
    """
    size = square.shape[0]
    img = Image.fromarray(square)
    for _ in range(10):
        area = size * size * rng.uniform(*scale)
        ratio = np.exp(rng.uniform(np.log(3 / 4), np.log(4 / 3)))
        cw, ch = int(round(np.sqrt(area * ratio))), int(round(np.sqrt(area / ratio)))
        if cw <= size and ch <= size:
            x, y = rng.integers(0, size - cw + 1), rng.integers(0, size - ch + 1)
            out = np.asarray(img.resize((size, size), Image.Resampling.BILINEAR, box=(x, y, x + cw, y + ch)))
            return out[:, ::-1] if rng.random() < 0.5 else out
    return square


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax in float64 for stable probabilities."""
    z = logits.astype(np.float64)
    z -= z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def top_k(probs: np.ndarray, classes: Sequence[str], k: int) -> list[list[tuple[str, float]]]:
    """Per row, the `k` most likely `(class, probability)` pairs, most likely first."""
    k = max(1, min(k, len(classes)))
    out = []
    for row in probs:
        order = np.argsort(-row, kind="stable")[:k]
        out.append([(classes[i], float(row[i])) for i in order])
    return out
