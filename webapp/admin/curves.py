"""Training curves as plain SVG geometry: the page draws them without a script or a picture file."""

from __future__ import annotations

import math
from typing import Any

from ..i18n import N_

WIDTH, HEIGHT = 320, 180
LEFT, RIGHT, TOP, BOTTOM = 44, 10, 10, 26
#: The two charts of the model page: which per-epoch figures each draws, and their labels.
CHARTS = {
    "loss": (N_("Loss"), (("loss", N_("training")), ("val_loss", N_("validation")))),
    "accuracy": (N_("Accuracy"), (("accuracy", N_("training")), ("val_accuracy", N_("validation")))),
}


def _y_range(kind: str, values: list[float]) -> tuple[float, float]:
    if kind == "accuracy":
        low = math.floor(min(values) * 10) / 10 if values else 0.0
        return (min(low, 0.9), 1.0)
    high = max(values) if values else 1.0
    return (0.0, high * 1.05 if high > 0 else 1.0)


def chart(kind: str, epochs: list[dict[str, Any]], best_epoch: int | None = None) -> dict[str, Any] | None:
    """Polylines, axis ticks and the best epoch's position for one chart, or None without figures."""
    title, series_keys = CHARTS[kind]
    values = [row[key] for row in epochs for key, _label in series_keys if row.get(key) is not None]
    if not values:
        return None
    low, high = _y_range(kind, values)
    first, last = epochs[0]["epoch"], epochs[-1]["epoch"]
    span_x = max(last - first, 1)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x_of(epoch: int) -> float:
        return round(LEFT + (epoch - first) / span_x * plot_w if last > first else LEFT + plot_w / 2, 1)

    def y_of(value: float) -> float:
        return round(TOP + (1 - (value - low) / (high - low)) * plot_h, 1)

    series = []
    for index, (key, label) in enumerate(series_keys):
        dots = [(x_of(row["epoch"]), y_of(row[key]), row["epoch"], row[key]) for row in epochs if row.get(key) is not None]
        if dots:
            series.append({"key": key, "label": label, "index": index,
                           "points": " ".join(f"{x},{y}" for x, y, _e, _v in dots), "dots": dots})
    step = max(1, math.ceil((last - first + 1) / 8))
    xticks = [(x_of(e), e) for e in range(first, last + 1, step)]
    yticks = []
    for i in range(5):
        value = low + (high - low) * i / 4
        text = f"{value * 100:.0f}%" if kind == "accuracy" else f"{value:.2g}"
        yticks.append((y_of(value), text))
    best = x_of(best_epoch) if isinstance(best_epoch, int) and first <= best_epoch <= last else None
    return {"kind": kind, "title": title, "series": series, "xticks": xticks, "yticks": yticks, "best_x": best,
            "width": WIDTH, "height": HEIGHT, "left": LEFT, "right": WIDTH - RIGHT, "top": TOP, "bottom": HEIGHT - BOTTOM,
            "percent": kind == "accuracy"}
