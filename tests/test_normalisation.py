"""One normalisation: `ml.transforms.normalise`, used by training and prediction alike, and no second copy."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import torch

from ml.training.data import to_input
from ml.transforms import normalise

ROOT = Path(__file__).resolve().parent.parent
SCANNED = ("ml", "jobs", "webapp", "desktop", "bench")
THE_ONE = "ml/transforms.py"

#: Ways a hand-written normalisation shows itself.
PATTERNS = {
    "pixels divided by 255": re.compile(r"(?:/\s*|\.div_?\(\s*)255(?:\.0*)?\b"),
    "(x - mean) / std": re.compile(r"-\s*[\w.\[\]'\"]*\bm(?:ean\w*)?\b[\w.\[\]'\"]*\s*\)\s*/\s*[\w.\[\]'\"]*\b(?:s|std\w*)\b"),
    "(x - 0.5) / 0.5": re.compile(r"-\s*0?\.5\s*\)\s*/\s*0?\.5\b"),
    "in-place sub/div by mean/std": re.compile(r"\.sub_?\(\s*[\w.]*mean|\.div_?\(\s*[\w.]*std"),
    "torchvision Normalize": re.compile(r"\bNormalize\("),
}

#: Files allowed one of the patterns, and why: they are not a model's input normalisation.
ALLOWED = {
    ("ml/dataset/stats.py", "pixels divided by 255"): "measures the channel mean/std in [0, 1]",
    ("ml/training/run.py", "pixels divided by 255"): "measures the mean/std of a dataset without stats",
    ("bench/train.py", "torchvision Normalize"): "the original train.py's pipeline, timed as the baseline",
    ("bench/serve_baseline.py", "torchvision Normalize"): "the original window.py's pipeline, timed as the baseline",
}

#: The copies that were removed (ml/train_loops.py, bench/recipes*.py): the scan must catch each.
OLD_COPIES = [
    "x = torch.from_numpy(np.ascontiguousarray(pixels)).permute(0, 3, 1, 2).float().div_(255.0)",
    "return ((x - m) / s).contiguous(memory_format=torch.channels_last)",
    "return ((pixels.float() / 255.0 - m) / s).contiguous(memory_format=torch.channels_last)",
    'f, z = session.run(None, {"x": ((x - mean) / std).numpy()})',
    "x = np.stack(views).astype(np.float32).transpose(0, 3, 1, 2) / 255.0",
    'maps.append(session.run(None, {"x": ((x - 0.5) / 0.5).astype(np.float32)})[0])',
    "batch = (batch - meta['mean']) / meta['std']",
    "transforms.Normalize(spec.mean, spec.std)",
]


def hand_written(text: str) -> list[str]:
    """Names of the patterns `text` shows."""
    return [name for name, pattern in PATTERNS.items() if pattern.search(text)]


def test_no_second_hand_written_normalisation():
    found = []
    for package in SCANNED:
        for path in sorted((ROOT / package).rglob("*.py")):
            rel = path.relative_to(ROOT).as_posix()
            if rel == THE_ONE:
                continue
            for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                for name in hand_written(line):
                    if (rel, name) not in ALLOWED:
                        found.append(f"{rel}:{lineno}: {name}: {line.strip()}")
    assert not found, "normalise with ml.transforms.normalise instead:\n" + "\n".join(found)


@pytest.mark.parametrize("line", OLD_COPIES)
def test_the_scan_catches_the_copies_that_were_removed(line):
    assert hand_written(line)


def test_the_scan_leaves_other_arithmetic_alone():
    for line in ("return 255.0 / 65535.0 if peak > 255 else 1.0", "m = x.mean(0) - y.mean(0)",
                 "colour = np.concatenate(parts, axis=2) * 255.0", "std = np.sqrt(total_sq / pixels - mean * mean)"):
        assert not hand_written(line), line


def test_training_input_is_exactly_what_prediction_computes():
    pixels = np.random.default_rng(0).integers(0, 256, (3, 7, 7, 3), dtype=np.uint8)
    mean, std = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]
    x = to_input(pixels, mean, std)
    assert x.shape == (3, 3, 7, 7) and x.dtype == torch.float32
    assert x.is_contiguous(memory_format=torch.channels_last)  # what the training convolutions run fastest on
    assert np.array_equal(x.numpy(), normalise(pixels, mean, std))  # bit for bit, not merely close
    as_tensor = to_input(torch.from_numpy(pixels), mean, std)  # augmented batches arrive as tensors
    assert torch.equal(as_tensor, x)
    reference = (pixels.astype(np.float64) / 255 - mean) / np.asarray(std)
    assert np.abs(normalise(pixels, mean, std) - reference.transpose(0, 3, 1, 2)).max() < 1e-5
    assert np.array_equal(normalise(pixels[0], mean, std), normalise(pixels, mean, std)[0])  # one HWC picture
