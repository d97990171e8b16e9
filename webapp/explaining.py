"""Why this answer: a Grad-CAM heat map of the active model over one uploaded picture, on demand.

Computed in the web process, not in an RQ job: one heat map is one forward and one backward pass
of the served model (a fraction of a second to a couple of seconds on a CPU, see docs/benchmarks.md),
short enough for a request, and a job would add the queue's latency and the picture's bytes in Redis.
What keeps the web process light is that nothing happens unless a person asks: torch is imported
by `ml.explain` on the first heat map only (predictions from the ONNX export never need it), at
most EXPLAIN_SLOTS heat maps run at once per process (the rest wait EXPLAIN_WAIT_S, then get
`busy`), and RATELIMIT_EXPLAIN counts them apart from predictions.
"""

from __future__ import annotations

import base64
import threading
from typing import Any

from flask import current_app

from .errors import AppError, InvalidParams
from .serving import current_predictor, decode_upload

_slots_lock = threading.Lock()


class Busy(AppError):
    """Every heat-map slot of this process stayed taken for EXPLAIN_WAIT_S."""

    status = 503
    code = "busy"


def _slots() -> threading.BoundedSemaphore:
    """This app's semaphore of EXPLAIN_SLOTS (made on first use)."""
    with _slots_lock:
        slots = current_app.extensions.get("animals_explain_slots")
        if slots is None:
            slots = current_app.extensions["animals_explain_slots"] = threading.BoundedSemaphore(
                max(1, int(current_app.config["EXPLAIN_SLOTS"])))
        return slots


def parse_class_index(raw: str | None) -> int | None:
    """The optional `class_index` form field: None when absent, else a non-negative integer."""
    if raw is None or raw.strip() == "":
        return None
    try:
        value = int(raw)
    except ValueError:
        raise InvalidParams("class_index must be a whole number.", code="bad_class") from None
    if value < 0:
        raise InvalidParams("class_index must not be negative.", code="bad_class")
    return value


def explain_upload(data: bytes, class_index: int | None = None, *, lang: str = "en") -> dict[str, Any]:
    """The heat map of the active model for one uploaded picture: PNG overlay as a data URL, class, time."""
    from ml.explain import explain

    predictor, active = current_predictor()
    image = decode_upload(data, predictor.size)
    slots = _slots()
    if not slots.acquire(timeout=float(current_app.config["EXPLAIN_WAIT_S"])):
        raise Busy("Too many heat maps are being made right now. Please try again in a moment.")
    try:
        # The .pt file (gradients), also when predictions come from the ONNX pair beside it.
        result = explain(predictor.path, image, class_index)
    finally:
        slots.release()
    return {
        "model": {"id": active.id, "name": active.name},
        "class_index": result.class_index,
        "label": result.label,
        "display_label": predictor.display_label(result.label, lang),
        "image": "data:image/png;base64," + base64.b64encode(result.png).decode("ascii"),
        "elapsed_ms": round(result.elapsed_ms, 2),
    }
