"""Export a model file to ONNX (dynamic batch) and prove onnxruntime agrees with torch.

Writes `<stem>.onnx` and `<stem>.json` (the model's metadata, so the ONNX backend needs no torch)
beside the model file. The export is checked on a random batch: the largest absolute difference
between torch's and onnxruntime's class probabilities must stay under `tolerance` (1e-4).
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from .artifact import FORMAT, FORMAT_VERSION, ModelError, build_from_artifact
from .dataset.layout import write_json_atomic
from .predict import file_sha256, onnx_paths
from .transforms import softmax

#: Largest allowed |p_torch - p_onnx| over every class probability of the check batch.
DEFAULT_TOLERANCE = 1e-4
OPSET = 17


def export_onnx(model_path: str | os.PathLike, *, tolerance: float = DEFAULT_TOLERANCE, check_batch: int = 3) -> dict[str, Any]:
    """Write `<stem>.onnx` + `<stem>.json` beside the model file; raise ModelError if outputs disagree."""
    import onnxruntime as ort
    import torch

    model_path = Path(model_path)
    model, meta = build_from_artifact(model_path)
    onnx_path, sidecar = onnx_paths(model_path)
    size = int(meta["input_size"])
    tmp = onnx_path.with_name(f".{onnx_path.name}.tmp")
    try:
        with warnings.catch_warnings(), torch.inference_mode(False), torch.no_grad():
            warnings.simplefilter("ignore")  # the TorchScript exporter announces its deprecation
            torch.onnx.export(
                model, (torch.zeros(1, 3, size, size),), str(tmp), dynamo=False,
                input_names=["input"], output_names=["logits"], opset_version=OPSET,
                dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
            )
        x = np.random.default_rng(0).standard_normal((check_batch, 3, size, size)).astype(np.float32)
        with torch.no_grad():
            expected = softmax(model(torch.from_numpy(x)).numpy())
        session = ort.InferenceSession(str(tmp), providers=["CPUExecutionProvider"])
        got = softmax(session.run(None, {"input": x})[0])
        diff = float(np.abs(expected - got).max())
        if not diff < tolerance:
            raise ModelError(
                f"ONNX export of {model_path.name} disagrees with torch: max probability difference "
                f"{diff:.2e} exceeds {tolerance:.0e}.",
                code="export_mismatch",
            )
        os.replace(tmp, onnx_path)
    finally:
        tmp.unlink(missing_ok=True)
    check = {"opset": OPSET, "max_abs_diff": diff, "tolerance": tolerance, "batch": check_batch}
    side = dict(meta) | {
        "format": FORMAT, "format_version": FORMAT_VERSION,
        "source": model_path.name, "source_sha256": file_sha256(model_path), "onnx": check,
    }
    write_json_atomic(sidecar, json.loads(json.dumps(side, ensure_ascii=False)))
    return {"onnx": str(onnx_path), "metadata": str(sidecar), **check}
