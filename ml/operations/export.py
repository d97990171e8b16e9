"""ONNX export, declared once: how strictly the export is checked, and where its files go (`flask export-onnx`)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from .fields import Config, setting

#: Largest allowed |p_torch - p_onnx| over every class probability of the check batch.
DEFAULT_TOLERANCE = 1e-4


@dataclass
class ExportConfig(Config):
    """How the ONNX export is checked against torch."""

    what = "export setting"

    tolerance: float = setting(DEFAULT_TOLERANCE, above=0, high=1.0,
                               help="Largest allowed probability difference between torch and onnxruntime.")
    check_batch: int = setting(3, low=1, high=64, help="Random pictures the export is checked on.")


def onnx_paths(model_path: str | os.PathLike) -> tuple[Path, Path]:
    """Where the ONNX export of a model file and its JSON metadata live: `<stem>.onnx`, `<stem>.json`."""
    path = Path(model_path)
    return path.with_suffix(".onnx"), path.with_suffix(".json")
