"""Store a model pair (.pt + .onnx) in half precision: half the bytes, the same answers.

Weights are rounded to float16 on disk only. The .pt loader upcasts them as it copies them into a
float32 model (`load_state_dict`); the .onnx file keeps a standard graph in which each float16
weight passes through a `Cast` to float32, which onnxruntime folds away when it opens the file, so
both backends compute in float32 from identical (rounded) weights and still agree exactly.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from .artifact import load_artifact, save_artifact
from .export import backend_difference
from .files import atomic_path, write_json_atomic
from .predict import file_sha256, onnx_paths

#: Weight tensors smaller than this stay float32 (biases, BatchNorm statistics): no size to win.
MIN_ELEMENTS = 1024


def halve_artifact(path: str | os.PathLike) -> dict[str, Any]:
    """Rewrite a model file with float16 weights (in place, atomically); return before/after sizes."""
    path = Path(path)
    meta, state = load_artifact(path)
    before = path.stat().st_size
    halved = {
        k: (v.half() if v.is_floating_point() and v.numel() >= MIN_ELEMENTS else v) for k, v in state.items()
    }
    meta = dict(meta) | {"storage": "float16"}
    save_artifact(path, halved, meta)
    return {"file": str(path), "bytes_before": before, "bytes_after": path.stat().st_size}


def halve_onnx(onnx_path: str | os.PathLike) -> dict[str, Any]:
    """Rewrite an ONNX file so large float32 weights are stored as float16 behind a Cast node."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    onnx_path = Path(onnx_path)
    before = onnx_path.stat().st_size
    model = onnx.load(str(onnx_path))
    graph = model.graph
    casts = []
    kept = []
    for init in graph.initializer:
        if init.data_type == TensorProto.FLOAT and np.prod(init.dims) >= MIN_ELEMENTS:
            half_name = f"{init.name}__fp16"
            kept.append(numpy_helper.from_array(numpy_helper.to_array(init).astype(np.float16), half_name))
            casts.append(helper.make_node("Cast", [half_name], [init.name], to=TensorProto.FLOAT, name=f"cast_{init.name}"))
        else:
            kept.append(init)
    del graph.initializer[:]
    graph.initializer.extend(kept)
    nodes = casts + list(graph.node)
    del graph.node[:]
    graph.node.extend(nodes)
    onnx.checker.check_model(model)
    with atomic_path(onnx_path) as tmp:
        onnx.save(model, str(tmp))
    return {"file": str(onnx_path), "bytes_before": before, "bytes_after": onnx_path.stat().st_size}


def halve_model(path: str | os.PathLike) -> dict[str, Any]:
    """Halve a model file and, when present, its ONNX export; keep the pair linked and agreeing."""
    path = Path(path)
    report: dict[str, Any] = {"pt": halve_artifact(path)}
    onnx_path, sidecar = onnx_paths(path)
    if onnx_path.is_file() and sidecar.is_file():
        report["onnx"] = halve_onnx(onnx_path)
        side = json.loads(sidecar.read_text(encoding="utf-8"))
        # The sidecar names the exact .pt it was exported from; the auto backend checks it.
        side |= {"source_sha256": file_sha256(path), "storage": "float16"}
        write_json_atomic(sidecar, side)
        # Same fixed random batch as the export's own check, now on the rounded weights.
        diffs = backend_difference(path, onnx_path)
        report["max_prob_diff_torch_vs_onnx"] = diffs["max_abs_diff"]
        report["max_feature_diff_torch_vs_onnx"] = diffs["max_feature_diff"]
    return report
