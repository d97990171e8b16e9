"""Why this answer: a Grad-CAM heat map of a model file's last convolution stage over one picture.

Torch is imported only when a heat map is asked for; without it `explain` raises `NeedsTorch`
(an ONNX-only install can predict but cannot compute gradients).
"""

from __future__ import annotations

import importlib.util
import io
import os
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from .errors import MLError
from .images import load_image
from .transforms import normalise, to_square_uint8

_cache: dict[tuple, tuple[Any, dict]] = {}
_lock = threading.Lock()
#: The cached model is shared: its hook and its gradients serve one heat map at a time per process.
_run_lock = threading.Lock()


class NeedsTorch(MLError):
    """The heat map needs torch, which this install lacks."""

    code = "needs_torch"


class Busy(MLError):
    """Another heat map held the model for longer than the caller would wait."""

    code = "busy"


@dataclass(frozen=True)
class ExplainResult:
    """A heat map (HxW floats in [0, 1]), its PNG overlay, the explained class and the time taken."""

    heatmap: np.ndarray
    png: bytes
    class_index: int
    label: str
    elapsed_ms: float


def torch_available() -> bool:
    """Whether torch can be imported here, found without importing it (a client asks before offering heat maps)."""
    if "torch" in sys.modules:
        return sys.modules["torch"] is not None  # None: imports of it are blocked
    return importlib.util.find_spec("torch") is not None


def _torch():
    try:
        import torch
    except ImportError:
        raise NeedsTorch("The heat map needs the full install with torch (requirements.txt).") from None
    return torch


def _target_layer(model: Any, arch: str) -> Any:
    """The last convolution stage: EfficientNet's conv_head + bn2 (with its activation), ResNet's layer4."""
    if arch.startswith("efficientnet"):
        return model.bn2
    if arch.startswith("resnet"):
        return model.layer4
    raise MLError(f"Heat maps are not available for {arch}.", code="bad_config")


def _load(model_path: str | os.PathLike) -> tuple[Any, dict]:
    # Not Predictor.load's model: the hook and backward pass here must not run on the instance
    # that serving threads share under inference_mode, so heat maps get their own (one file at a time).
    from .artifact import build_from_artifact

    path = Path(model_path)
    key = (str(path.resolve()), path.stat().st_mtime_ns if path.exists() else 0)
    with _lock:
        if key not in _cache:
            _cache.clear()
            _cache[key] = build_from_artifact(path)
        return _cache[key]


def overlay_png(pixels: np.ndarray, heatmap: np.ndarray, alpha: float = 0.45) -> bytes:
    """The picture (HxWx3 uint8) with the heat map blended over it in red-yellow, as PNG bytes."""
    h = heatmap[..., None]
    colour = np.concatenate([np.ones_like(h), h, np.zeros_like(h)], axis=2) * 255.0
    weight = alpha * h
    mixed = pixels.astype(np.float32) * (1 - weight) + colour * weight
    buf = io.BytesIO()
    Image.fromarray(mixed.clip(0, 255).astype(np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def explain(model_path: str | os.PathLike, image: Any, class_index: int | None = None, *,
            wait_s: float | None = None) -> ExplainResult:
    """Grad-CAM of `image` for `class_index` (None: the predicted class) with the model file at `model_path`.

    Heat maps run one at a time per process; `wait_s` bounds the wait for the one before (None: no
    bound), after which `Busy` is raised.
    """
    torch = _torch()
    if not _run_lock.acquire(timeout=-1 if wait_s is None else max(0.0, wait_s)):
        raise Busy("Too many heat maps are being made right now. Please try again in a moment.")
    try:
        started = time.perf_counter()
        model, meta = _load(model_path)
        size = int(meta["input_size"])
        img = image if hasattr(image, "convert") else load_image(image, target=size)
        pixels = to_square_uint8(img, size)
        batch = torch.from_numpy(normalise(pixels[None], meta["mean"], meta["std"]))
        heat, index = _gradcam(torch, model, meta, batch, class_index)
        elapsed = (time.perf_counter() - started) * 1000.0
    finally:
        _run_lock.release()
    return ExplainResult(heat, overlay_png(pixels, heat), index, list(meta["classes"])[index], elapsed)


def _gradcam(torch: Any, model: Any, meta: dict, batch: Any, class_index: int | None) -> tuple[np.ndarray, int]:
    """The normalised heat map at the input size and the explained class index (caller holds `_run_lock`)."""
    size = int(meta["input_size"])
    layer = _target_layer(model, meta["arch"])
    saved: dict[str, Any] = {}

    def keep(_module, _inputs, output):
        output.retain_grad()
        saved["maps"] = output

    handle = layer.register_forward_hook(keep)
    try:
        with torch.enable_grad():
            logits = model(batch.requires_grad_(False))
            index = int(logits[0].argmax()) if class_index is None else int(class_index)
            if not 0 <= index < logits.shape[1]:
                raise MLError(f"Class index {index} is outside 0..{logits.shape[1] - 1}.", code="bad_class")
            model.zero_grad(set_to_none=True)
            logits[0, index].backward()
    finally:
        handle.remove()
    maps = saved["maps"]
    weights = maps.grad.mean(dim=(2, 3), keepdim=True)
    cam = torch.relu((weights * maps).sum(dim=1, keepdim=True))
    cam = torch.nn.functional.interpolate(cam, size=(size, size), mode="bilinear", align_corners=False)[0, 0]
    cam = cam.detach().numpy()
    model.zero_grad(set_to_none=True)  # the weights' gradients are not needed between heat maps
    span = float(cam.max() - cam.min())
    heat = (cam - cam.min()) / span if span > 0 else np.zeros_like(cam)
    return heat.astype(np.float32), index
