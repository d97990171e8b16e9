"""Pooled features of a frozen backbone, computed as fast as this machine allows.

On a CPU, onnxruntime runs EfficientNet's depthwise convolutions about ten times faster than eager
torch (bench/recipes.py measured 67 ms against 690 ms for three 260 px pictures with lite2), so a
linear probe exports its frozen backbone to an in-memory ONNX graph once and runs that. Where
onnxruntime is missing, the export fails, or the backbone runs on a GPU, eager torch does the work.
"""

from __future__ import annotations

import io
import logging
import warnings
from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from .device import CPU, Device
from .models import FeatureExtractor

log = logging.getLogger(__name__)

FeatureFn = Callable[[torch.Tensor], torch.Tensor]


def _torch_runner(extractor: nn.Module, device: Device) -> FeatureFn:
    """Eager torch on `device` (in its mixed precision); float32 features stay on that device."""

    def run(x: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode(), device.autocast():
            return extractor(x.to(device.torch, non_blocking=True)).float().clone()

    return run


def _onnx_runner(extractor: nn.Module, size: int) -> FeatureFn:
    import onnxruntime as ort

    buffer = io.BytesIO()
    with warnings.catch_warnings(), torch.inference_mode(False), torch.no_grad():
        warnings.simplefilter("ignore")  # the TorchScript exporter announces its deprecation
        torch.onnx.export(extractor, (torch.zeros(1, 3, size, size),), buffer, dynamo=False, input_names=["input"],
                          output_names=["features"], dynamic_axes={"input": {0: "batch"}, "features": {0: "batch"}})
    session = ort.InferenceSession(buffer.getvalue(), providers=["CPUExecutionProvider"])
    probe = torch.rand(2, 3, size, size)
    with torch.inference_mode():
        expected = extractor(probe).numpy()
    got = session.run(None, {"input": probe.numpy()})[0]
    if not np.allclose(got, expected, atol=1e-3 * max(1.0, float(np.abs(expected).max()))):
        raise ValueError("onnxruntime features differ from torch's")

    def run(x: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(session.run(None, {"input": np.ascontiguousarray(x.numpy(), dtype=np.float32)})[0])

    return run


def feature_runner(model: nn.Module, arch: str, size: int, *, device: Device = CPU) -> tuple[FeatureFn, str]:
    """A function from a normalised NCHW batch (on the CPU) to pooled features, and the engine it uses."""
    return module_runner(FeatureExtractor(model, arch), size, device=device)


def module_runner(module: nn.Module, size: int, *, device: Device = CPU) -> tuple[FeatureFn, str]:
    """The same for any frozen module of pictures (e.g. `ml.models.FrozenStages`, giving feature maps)."""
    # In eval mode, wrapper included: the exporter puts the wrapper's own mode back onto the model.
    extractor = module.eval()
    if device.type == "cpu" and not device.amp:
        try:
            return _onnx_runner(extractor, size), "onnxruntime"
        except Exception as exc:  # noqa: BLE001 - any failure means: use torch, which always works
            log.info("frozen features with torch: %s", str(exc)[:200])
    return _torch_runner(extractor, device), "torch"


__all__ = ["feature_runner", "module_runner"]
