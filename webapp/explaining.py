"""Why this answer: a Grad-CAM heat map of the active model over one uploaded picture, on demand.

Computed in the web process, not in an RQ job: one heat map is one forward and one backward pass
of the served model (about half a second on one CPU thread, see docs/benchmarks.md), short enough
for a request, and a job would add the queue's wait and carry the picture's bytes through Redis.
What keeps the web process light is that nothing happens unless a person asks: torch is imported
by `ml.explain` on the first heat map only (predictions from the ONNX export never need it), heat
maps run one at a time per process (`ml.explain` shares one model between them; a request waits
EXPLAIN_WAIT_S for the one before, then gets 503 `busy`), and RATELIMIT_EXPLAIN counts them apart
from predictions.
"""

from __future__ import annotations

import base64
from typing import Any

from flask import current_app

from .errors import InvalidParams
from .serving import current_predictor, decode_upload


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
    # The .pt file (gradients), also when predictions come from the ONNX pair beside it.
    result = explain(predictor.path, image, class_index, wait_s=float(current_app.config["EXPLAIN_WAIT_S"]))
    return {
        "model": {"id": active.id, "name": active.name},
        "class_index": result.class_index,
        "label": result.label,
        "display_label": predictor.display_label(result.label, lang),
        "image": "data:image/png;base64," + base64.b64encode(result.png).decode("ascii"),
        "elapsed_ms": round(result.elapsed_ms, 2),
    }
