"""Two model versions side by side: measured figures (out-of-source first), per-class precision and recall
with the differences marked, and how each was made (architecture, recipe, dataset, date)."""

from __future__ import annotations

from typing import Any

from flask import abort, render_template, request

from ..extensions import db
from ..models import ModelVersion, iso
from ..registry import list_models
from . import bp
from .model_page import per_class_of

#: A difference smaller than this (half a percentage point) is shown but not marked better or worse.
MARGIN = 0.005


def difference(a: float | None, b: float | None) -> dict[str, Any] | None:
    """B − A, and whether B is better, worse or about the same (None when either side has no figure)."""
    if not isinstance(a, int | float) or not isinstance(b, int | float):
        return None
    delta = float(b) - float(a)
    return {"delta": delta, "sign": "better" if delta >= MARGIN else "worse" if delta <= -MARGIN else "same"}


def _figures(qa: dict[str, Any], qb: dict[str, Any]) -> list[dict[str, Any]]:
    """The headline figures in reading order; a row only when one of the two models has it."""
    rows = []
    for key, field in (("out_of_source", "accuracy"), ("in_source", "accuracy"), ("unknown", "flagged_rate")):
        a, b = (qa.get(key) or {}).get(field), (qb.get(key) or {}).get(field)
        if a is None and b is None:
            continue
        rows.append({"key": key, "a": a, "b": b, "diff": difference(a, b),
                     "count_a": (qa.get(key) or {}).get("count"), "count_b": (qb.get(key) or {}).get("count")})
    return rows


def _per_class(pa: dict[str, dict], pb: dict[str, dict], classes: list[str]) -> dict[str, list[dict[str, Any]]]:
    """Per kind (out-of-source first): one row per class with A's and B's precision and recall and B − A."""
    out: dict[str, list[dict[str, Any]]] = {}
    for kind in ("out_of_source", "in_source"):
        ta, tb = pa.get(kind) or {}, pb.get(kind) or {}
        if not ta and not tb:
            continue
        rows = []
        for cls in classes:
            va, vb = ta.get(cls) or {}, tb.get(cls) or {}
            if not va and not vb:
                continue
            rows.append({"cls": cls, **{f"{m}_{side}": v.get(m) for m in ("precision", "recall")
                                        for side, v in (("a", va), ("b", vb))},
                         "precision_diff": difference(va.get("precision"), vb.get("precision")),
                         "recall_diff": difference(va.get("recall"), vb.get("recall"))})
        out[kind] = rows
    return out


def _made(row: ModelVersion) -> dict[str, Any]:
    from ml.history import training_facts

    facts = training_facts(row.path)
    dataset = facts["dataset"]
    counts = dataset.get("counts") or {}
    return {"recipe": facts["recipe"], "dataset": str(dataset.get("root") or "").replace("\\", "/").rstrip("/").split("/")[-1],
            "counts": " / ".join(str(counts.get(part, 0)) for part in ("train", "val", "test")) if counts else None,
            "fingerprint": dataset.get("fingerprint") or row.dataset_fingerprint,
            "created": (iso(row.created_at) or "")[:19]}


def _pick(name: str) -> ModelVersion | None:
    model_id = request.args.get(name, type=int)
    if model_id is None:
        return None
    return db.session.get(ModelVersion, model_id) or abort(404)


@bp.get("/models/compare")
def compare():
    """Models A and B (?a=<id>&b=<id>) side by side; without both, the form that picks them."""
    from ml.evaluations import evaluation_reports, summarise_evaluations  # JSON reports only, no torch

    a, b = _pick("a"), _pick("b")
    context: dict[str, Any] = {"a": a, "b": b, "models": list_models()}
    if a is not None and b is not None:
        qa, qb = summarise_evaluations(a.path), summarise_evaluations(b.path)
        pa, pb = per_class_of(a, evaluation_reports(a.path)), per_class_of(b, evaluation_reports(b.path))
        classes = list(dict.fromkeys([*(a.classes or []), *(b.classes or [])]))
        classes += sorted({c for t in (*pa.values(), *pb.values()) for c in t} - set(classes))
        made_a, made_b = _made(a), _made(b)
        keys = list(dict.fromkeys([*made_a["recipe"], *made_b["recipe"]]))
        context.update(figures=_figures(qa, qb), per_class=_per_class(pa, pb, classes), made_a=made_a, made_b=made_b,
                       recipe=[{"key": k, "a": made_a["recipe"].get(k), "b": made_b["recipe"].get(k)} for k in keys])
    return render_template("admin/compare.html", **context)
