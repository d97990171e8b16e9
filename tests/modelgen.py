"""Tiny datasets and models trained by the tests themselves (random init, 64 px, seconds on a CPU)."""

from __future__ import annotations

import contextlib
from pathlib import Path

from ml.dataset import split
from tests.imagegen import make_dataset

CLASSES = {"猫": 16, "狗": 16, "牛": 16}
#: Metadata keys of temperature scaling and the open-set check; a model file from before has neither.
OPEN_SET_KEYS = ("calibration", "open_set")
#: Maximum-softmax checks with fixed verdicts: every score (minus the top probability) lies in [-1, 0).
ALWAYS_UNKNOWN = {"method": "msp", "threshold": -1.01}
NEVER_UNKNOWN = {"method": "msp", "threshold": 0.0}


def split_dataset(root: Path, counts: dict[str, int] | None = None, *, val: float = 0.0) -> Path:
    """A learnable synthetic dataset (one colour per class), split 75/25 with seed 0."""
    make_dataset(root, counts or CLASSES, size=(80, 64), coloured=True)
    split(root, test=0.25, val=val, seed=0)
    return root


def tiny_config(**overrides):
    """A linear-probe config on a random-init EfficientNet-Lite0 at 64 px: trains in a few seconds."""
    from ml.training import TrainConfig

    settings = dict(arch="efficientnet_lite0", pretrained="none", mode="linear", epochs=12, lr=3e-3,
                    batch_size=8, image_size=64, seed=0)
    return TrainConfig(**(settings | overrides))


def train_tiny(root: Path, out: Path, **overrides):
    """Train `tiny_config(**overrides)` on `root`, writing into `out`."""
    from ml.training import train

    return train(root, out, tiny_config(**overrides))


def with_meta(src: Path, dest: Path, **meta) -> Path:
    """A copy of model file `src` at `dest` without calibration/open-set metadata, then with `meta` set."""
    from ml.artifact import load_artifact, save_artifact

    old, state = load_artifact(src)
    save_artifact(dest, state, {k: v for k, v in old.items() if k not in OPEN_SET_KEYS} | meta)
    return Path(dest)


@contextlib.contextmanager
def one_torch_thread():
    """Tiny models train faster on one thread: hand-offs between threads cost more than they save."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)
