"""The measured quality of a model, gathered from the evaluation reports written beside it.

    summarise_evaluations("models/default/animals5.pt")
    → {"out_of_source": {"accuracy": 0.97, "count": 487, ...}, "in_source": {...}, "unknown": {...}}

`flask evaluate` writes `<stem>[.<tag>].metrics.json` (with `kind` in_source / out_of_source) and,
with `--expect-unknown`, `<stem>.<tag>.unknown.json`. Every place that shows a model's accuracy
(model card, web page, API, desktop) reads this one summary, so the out-of-source figure always
comes first and each figure says which kind it is.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

KINDS = ("out_of_source", "in_source")


def _read(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _quality(report: dict[str, Any]) -> dict[str, Any]:
    unknown = report.get("unknown") or {}
    return {
        "accuracy": report.get("accuracy"), "count": report.get("count"), "ece": report.get("ece"),
        "part": report.get("part"), "sources": sorted((report.get("per_source") or {}).keys()),
        "unknown_rate": unknown.get("rate") if unknown.get("available") else None,
    }


def summarise_evaluations(model_path: str | os.PathLike) -> dict[str, Any]:
    """Out-of-source, in-source and unknown-photo figures from the reports beside `model_path` ({} if none)."""
    path = Path(model_path)
    stem = path.with_suffix("").name
    out: dict[str, Any] = {}
    for report_path in sorted(path.parent.glob(f"{stem}*.metrics.json")):
        report = _read(report_path)
        if not report or "accuracy" not in report:
            continue
        kind = report.get("kind")
        if kind not in KINDS:
            # The plain report of a split part is the in-source test figure.
            kind = "in_source" if report_path.name == f"{stem}.metrics.json" else None
        if kind and kind not in out:
            out[kind] = _quality(report) | {"report": report_path.name}
    for report_path in sorted(path.parent.glob(f"{stem}.*.unknown.json")):
        report = _read(report_path)
        if report and "flagged_rate" in report:
            out["unknown"] = {"flagged_rate": report["flagged_rate"], "count": report.get("count"),
                              "groups": len(report.get("per_group") or {})}
            break
    return {k: out[k] for k in (*KINDS, "unknown") if k in out}


def evaluation_reports(model_path: str | os.PathLike) -> dict[str, dict[str, Any]]:
    """The whole reports behind the summary, `{"out_of_source": report, "in_source": report}` (those present)."""
    path = Path(model_path)
    out: dict[str, dict[str, Any]] = {}
    for kind, quality in summarise_evaluations(path).items():
        if kind in KINDS:
            report = _read(path.parent / quality["report"])
            if report:
                out[kind] = report
    return out


def per_class_by_kind(model_path: str | os.PathLike) -> dict[str, dict[str, Any]]:
    """`{"out_of_source": per_class, "in_source": per_class}` from the same reports as the summary."""
    return {kind: report["per_class"] for kind, report in evaluation_reports(model_path).items()
            if isinstance(report.get("per_class"), dict)}


def misclassified_files(model_path: str | os.PathLike, dataset_root: str | os.PathLike) -> dict[str, dict[str, Any]]:
    """`{relative path: {"label", "predicted", "confidence"}}` for the pictures of `dataset_root` that the
    evaluation reports beside `model_path` name as wrong ({} when no report scored that dataset)."""
    path = Path(model_path)
    stem = path.with_suffix("").name
    try:
        root = Path(dataset_root).resolve()
    except OSError:
        return {}
    out: dict[str, dict[str, Any]] = {}
    for report_path in sorted(path.parent.glob(f"{stem}*.metrics.json")):
        report = _read(report_path)
        if not report or not report.get("dataset"):
            continue
        try:
            if Path(report["dataset"]).resolve() != root:
                continue
        except (OSError, TypeError):
            continue
        for item in report.get("misclassified") or []:
            if isinstance(item, dict) and isinstance(item.get("file"), str):
                out.setdefault(item["file"], {k: item.get(k) for k in ("label", "predicted", "confidence")})
    return out


__all__ = ["evaluation_reports", "misclassified_files", "per_class_by_kind", "summarise_evaluations"]
