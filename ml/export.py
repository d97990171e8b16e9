"""Export a model file to ONNX (dynamic batch) and prove onnxruntime agrees with torch.

Writes `<stem>.onnx` and `<stem>.json` (the model's metadata, so the ONNX backend needs no torch)
beside the model file. The graph has two outputs: "logits" and "features" (the pooled features
the head reads, for open-set checks that measure distances). The export is checked on a random
batch: the largest absolute difference between torch's and onnxruntime's (calibrated) class
probabilities must stay under `tolerance` (1e-4), and so must the features' difference relative
to their largest magnitude.
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from .artifact import FORMAT, FORMAT_VERSION, ModelError, build_from_artifact
from .files import atomic_path, write_json_atomic
from .openset import calibrated_probabilities
from .operations.export import DEFAULT_TOLERANCE, onnx_paths
from .predict import _OnnxRunner, _TorchRunner, file_sha256

OPSET = 17
#: The graph's outputs, by name (the ONNX runner finds them by these names).
OUTPUTS = ("logits", "features")


def export_onnx(model_path: str | os.PathLike, *, tolerance: float = DEFAULT_TOLERANCE, check_batch: int = 3) -> dict[str, Any]:
    """Write `<stem>.onnx` + `<stem>.json` beside the model file; raise ModelError if outputs disagree."""
    import torch

    from .models import LogitsAndFeatures

    model_path = Path(model_path)
    model, meta = build_from_artifact(model_path)
    onnx_path, sidecar = onnx_paths(model_path)
    size = int(meta["input_size"])
    with atomic_path(onnx_path) as tmp:  # renamed into place only once it agrees with torch
        with warnings.catch_warnings(), torch.inference_mode(False), torch.no_grad():
            warnings.simplefilter("ignore")  # the TorchScript exporter announces its deprecation
            torch.onnx.export(
                LogitsAndFeatures(model, meta["arch"]).eval(), (torch.zeros(1, 3, size, size),), str(tmp),
                dynamo=False, input_names=["input"], output_names=list(OUTPUTS), opset_version=OPSET,
                dynamic_axes={name: {0: "batch"} for name in ("input", *OUTPUTS)},
            )
        diffs = backend_difference(model_path, tmp, batch=check_batch)
        worst = max(d for d in diffs.values() if d is not None)
        if not worst < tolerance:
            raise ModelError(
                f"ONNX export of {model_path.name} disagrees with torch: max probability difference "
                f"{diffs['max_abs_diff']:.2e}, relative feature difference {diffs['max_feature_diff']:.2e}; "
                f"the tolerance is {tolerance:.0e}.",
                code="export_mismatch",
            )
    check = {"opset": OPSET, **diffs, "tolerance": tolerance, "batch": check_batch, "outputs": list(OUTPUTS)}
    side = dict(meta) | {
        "format": FORMAT, "format_version": FORMAT_VERSION,
        "source": model_path.name, "source_sha256": file_sha256(model_path), "onnx": check,
    }
    write_json_atomic(sidecar, json.loads(json.dumps(side, ensure_ascii=False)))
    return {"onnx": str(onnx_path), "metadata": str(sidecar), **check}


def backend_difference(model_path: str | os.PathLike, onnx_path: str | os.PathLike, *, batch: int = 3) -> dict[str, Any]:
    """How far onnxruntime's answers from `onnx_path` stray from torch's on one fixed random batch.

    `max_abs_diff`: largest |p_torch - p_onnx| over the calibrated class probabilities;
    `max_feature_diff`: largest feature difference over the largest feature magnitude (at least 1),
    None when the ONNX file has no features output (an export from before it had one).
    """
    model, meta = build_from_artifact(model_path)
    size = int(meta["input_size"])
    x = np.random.default_rng(0).standard_normal((batch, 3, size, size)).astype(np.float32)
    logits_t, features_t = _TorchRunner(model, meta["arch"])(x)
    logits_o, features_o = _OnnxRunner(Path(onnx_path))(x)
    probs = np.abs(calibrated_probabilities(logits_t, meta) - calibrated_probabilities(logits_o, meta)).max()
    features = None
    if features_o is not None:
        features = float(np.abs(features_t - features_o).max() / max(1.0, float(np.abs(features_t).max())))
    return {"max_abs_diff": float(probs), "max_feature_diff": features}
