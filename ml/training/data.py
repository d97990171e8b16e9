"""The pictures a run learns from: the hold-out, the per-run pixel cache, batches and model input.

    holdout(rows, 0.1, seed)        validation rows cut from train when the split has no val part
    cache_split(root, rows, ...)    every picture decoded and resized once per run (a memory map)
    batch_indices(n, 32, seed)      the shuffled batches of an epoch
    to_input(pixels, mean, std)     uint8 pixels to the normalised tensor a model takes

Pictures are stored as centre squares (uint8, N×S×S×3) in a `.npy` memory map in the run's
`cache/` folder, so epochs never re-decode full-size JPEGs and a large dataset does not have to fit
in memory. The cache serves one run: `ml.training.run.train` deletes it when the run ends (done,
failed or cancelled); a resumed run decodes again.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..files import atomic_path, write_json_atomic
from ..images import ImageError, load_image
from ..progress import ProgressFn, StopFn, check_stop, report
from ..transforms import normalise, to_square_uint8

#: The folder of a run's pixel cache, inside the run folder.
CACHE_DIR = "cache"


@dataclass
class CachedSplit:
    """Pictures of one split part at one size, with labels, file names and what was skipped."""

    pixels: np.ndarray
    labels: np.ndarray
    files: list[str]
    skipped: list[dict] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.files)


def _key(rows: list[tuple[str, int]], size: int) -> str:
    text = json.dumps([size, rows], ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def cache_split(
    root: Path,
    rows: list[tuple[str, int]],
    size: int,
    folder: Path,
    name: str,
    *,
    on_progress: ProgressFn | None = None,
    should_stop: StopFn | None = None,
) -> CachedSplit:
    """Centre squares of every readable picture in `rows`, cached under `folder/name-*`."""
    folder.mkdir(parents=True, exist_ok=True)
    key = _key(rows, size)
    data_path, index_path = folder / f"{name}-{size}.npy", folder / f"{name}-{size}.json"
    if data_path.exists() and index_path.exists():
        index = json.loads(index_path.read_text(encoding="utf-8"))
        if index.get("key") == key:
            pixels = np.load(data_path, mmap_mode="r")
            return CachedSplit(pixels, np.asarray(index["labels"], dtype=np.int64), index["files"], index["skipped"])
    files: list[str] = []
    labels: list[int] = []
    skipped: list[dict] = []
    with atomic_path(data_path) as tmp_path:  # a cancelled decode leaves no half cache behind
        pixels = np.lib.format.open_memmap(tmp_path, mode="w+", dtype=np.uint8,
                                           shape=(max(len(rows), 1), size, size, 3))
        report(on_progress, "cache", 0, len(rows), part=name)
        for done, (rel, label) in enumerate(rows, 1):
            check_stop(should_stop)
            try:
                pixels[len(files)] = to_square_uint8(load_image(root / rel, target=size), size)
            except ImageError as exc:
                skipped.append({"file": rel, "reason": exc.message, "code": exc.code})
            else:
                files.append(rel)
                labels.append(label)
            report(on_progress, "cache", done, len(rows), part=name)
        pixels.flush()
        del pixels
        # Keep only the rows that decoded: rewrite compactly (onto the temporary) when something was skipped.
        full = np.load(tmp_path, mmap_mode="r")
        if len(files) != full.shape[0]:
            with atomic_path(tmp_path) as compact, open(compact, "wb") as fh:
                np.save(fh, np.asarray(full[: len(files)]))
        del full
    write_json_atomic(index_path, {"key": key, "files": files, "labels": labels, "skipped": skipped})
    return CachedSplit(np.load(data_path, mmap_mode="r"), np.asarray(labels, dtype=np.int64), files, skipped)


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


def batch_indices(n: int, batch_size: int, epoch_seed: int, shuffle: bool = True) -> list[np.ndarray]:
    """The index batches of one epoch (sorted within a batch, for memory-map reads)."""
    order = np.random.default_rng(epoch_seed).permutation(n) if shuffle else np.arange(n)
    chunks = [np.sort(order[i : i + batch_size]) for i in range(0, n, batch_size)]
    if len(chunks) > 1 and len(chunks[-1]) == 1:
        # BatchNorm cannot train on a batch of one: the odd picture joins the previous batch.
        chunks[-2] = np.sort(np.concatenate(chunks[-2:]))
        chunks.pop()
    return chunks


def to_input(pixels: np.ndarray | torch.Tensor, mean: Sequence[float], std: Sequence[float]) -> torch.Tensor:
    """uint8 NHWC pixels to a normalised float NCHW tensor in channels-last memory (`ml.transforms.normalise`)."""
    if isinstance(pixels, torch.Tensor):
        pixels = pixels.numpy()
    return torch.from_numpy(normalise(pixels, mean, std, channels_last=True))
