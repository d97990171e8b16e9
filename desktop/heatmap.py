"""Why this answer, in the window: a Grad-CAM heat map of the open model over the current picture.

Made only when the person presses "Why?" (one forward and one backward pass, run in a worker
thread). It needs torch and the model's .pt file: the ONNX-only install (requirements-desktop.txt)
recognises pictures but cannot compute gradients, and says so instead of failing.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from PyQt5.QtGui import QImage

from ml.explain import torch_available

from .i18n import N_, tr

#: Why the button cannot work in this install (shown on the button and in a dialog).
NEEDS_TORCH = N_("The heat map needs the full install with torch (pip install -r requirements.txt). "
                 "This install recognises pictures with the ONNX model only.")
NEEDS_PT = N_("The heat map needs the model's .pt file beside the .onnx file.")


@dataclass(frozen=True)
class HeatMapView:
    """A heat map ready to draw: the overlay, the class it explains (name as in the model) and the time taken."""

    image: QImage
    name: str
    class_index: int
    elapsed_ms: float


def unavailable_reason(predictor) -> str | None:
    """The (untranslated) reason this install or model cannot make heat maps, or None when it can."""
    if not torch_available():
        return NEEDS_TORCH
    if predictor is not None and not Path(predictor.path).is_file():
        return NEEDS_PT
    return None


def make_heatmap(predictor, image, class_index: int | None = None) -> HeatMapView:
    """Compute the heat map (slow: call it in a worker thread) and turn its PNG overlay into a QImage."""
    from ml.explain import explain

    result = explain(predictor.path, image, class_index)
    overlay = QImage.fromData(result.png, "PNG")
    return HeatMapView(overlay, result.label, result.class_index, result.elapsed_ms)


def caption(view: HeatMapView, shown_label: str, lang: str) -> str:
    """What the colours mean, for which class, and how long the heat map took, in `lang`."""
    text = tr("Red and yellow: the parts of the photo that mattered most for “%(label)s”.", lang, label=shown_label)
    return f"{text} {tr('Took %(ms).0f ms', lang, ms=view.elapsed_ms)}"
