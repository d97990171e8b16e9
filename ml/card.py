"""Write a model card (Markdown) from what a model file and its evaluation report record.

Every number in the card comes from the model file's metadata and `<stem>.metrics.json`, so the
card cannot drift from the model it describes; `make default-model` regenerates both together.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from .artifact import read_meta
from .evaluate import report_paths
from .evaluations import summarise_evaluations
from .openset import bank_size
from .predict import onnx_paths


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 100:.1f}%"


def _size(path: Path) -> str:
    return f"{path.stat().st_size / 1e6:.1f} MB" if path.exists() else "absent"


def glance(path: Path, meta: dict[str, Any]) -> list[str]:
    """The figures a user should read first: out-of-source accuracy leads, each says what it was measured on."""
    ev = summarise_evaluations(path)
    oos, ins, unk = ev.get("out_of_source"), ev.get("in_source"), ev.get("unknown")
    rows = []
    if oos:
        rows.append(("Accuracy on photos from sources never used in training (out-of-source)",
                     f"**{_pct(oos['accuracy'])}**", f"{oos['count']} photos from {', '.join(oos['sources']) or 'other sources'}"))
    if ins:
        rows.append(("Accuracy on the test split of the training sources (in-source)", _pct(ins["accuracy"]),
                     f"{ins['count']} photos"))
    if oos and oos.get("ece") is not None:
        rows.append(("Calibration error (ECE, 15 bins), out-of-source", f"{oos['ece']:.3f}",
                     f"temperature {(meta.get('calibration') or {}).get('temperature', 1.0)} fitted on validation photos"))
    if oos and oos.get("unknown_rate") is not None:
        rows.append(("Known-class photos wrongly called \"none of my classes\", out-of-source",
                     _pct(oos["unknown_rate"]), f"{oos['count']} photos"))
    if unk:
        rows.append(("Photos of other things called \"none of my classes\"", f"**{_pct(unk['flagged_rate'])}**",
                     f"{unk['count']} photos of {unk['groups']} other kinds of things"))
    if not rows:
        return []
    out = ["", "## Quality at a glance", "", "| figure | value | measured on |", "| --- | --- | --- |"]
    out += [f"| {a} | {b} | {c} |" for a, b, c in rows]
    check = meta.get("open_set") or {}
    if check:
        centred = ", mean-centred," if check.get("centred") else ""
        out += ["", f"\"None of my classes\": {check.get('method')} check{centred} with k={check.get('k')} on "
                f"{bank_size(check.get('bank'))} stored training features; threshold {check.get('threshold')} lets "
                f"through all but {_pct(check.get('rate'))} of {check.get('fitted_on')} validation photos scored "
                f"with a {check.get('margin')}-neighbour shift margin (see docs/model.md)."]
    return out


def out_of_source_section(path: Path) -> list[str]:
    """Per-source accuracy, calibration and pictures of the out-of-source evaluation, when there is one."""
    oos = summarise_evaluations(path).get("out_of_source")
    report = json.loads((path.parent / oos["report"]).read_text(encoding="utf-8")) if oos else None
    if not report:
        return []
    lines = ["", f"## Out-of-source quality ({report['count']} photos from sources never used in training)",
             "", "| source | photos | accuracy | ECE | called unknown |", "| --- | --- | --- | --- | --- |"]
    for source, row in (report.get("per_source") or {}).items():
        unknown = row.get("unknown_rate")
        lines.append(f"| {source} | {row.get('count')} | {_pct(row.get('accuracy'))} | {row.get('ece', 0):.3f} | "
                     f"{_pct(unknown) if unknown is not None else 'n/a'} |")
    lines.append("")
    lines.append("| class | precision | recall | photos |")
    lines.append("| --- | --- | --- | --- |")
    for cls, row in (report.get("per_class") or {}).items():
        lines.append(f"| {cls} | {_pct(row['precision'])} | {_pct(row['recall'])} | {row['support']} |")
    for kind, title in (("confusion", "confusion matrix"), ("reliability", "reliability diagram")):
        name = Path((report.get("files") or {}).get(kind, "")).name
        if name and (path.parent / name).exists():
            lines += ["", f"![{title}, out-of-source]({name})"]
    return lines


def _augmentation(cfg: dict) -> str:
    if not cfg.get("augment"):
        return "off"
    if cfg.get("mode") == "last_stages":
        return "on (each training picture cached as its centre, its mirror and 2 random resized crops)"
    return "on"


def _where(meta: dict) -> str:
    device = meta.get("device") or {}
    if device.get("type") in ("cuda", "mps"):
        return f"{device.get('name') or device['type']}" + (" (mixed precision)" if device.get("amp") else "")
    return f"{os.cpu_count()} CPU cores without a GPU"


def render_model_card(
    model_path: str | os.PathLike, *, command: str, data_source: str, limits: list[str], wall_seconds: float | None = None
) -> str:
    """The Markdown text of a model card for `model_path`."""
    path = Path(model_path)
    meta = read_meta(path)
    metrics_path, confusion_path = report_paths(path)
    metrics: dict[str, Any] = json.loads(metrics_path.read_text(encoding="utf-8")) if metrics_path.exists() else meta.get("metrics", {})
    cfg = meta.get("train_config", {})
    data = meta.get("dataset", {})
    classes = meta["classes"]
    names = meta.get("display_names") or {}
    onnx_path, _ = onnx_paths(path)
    lines = [
        f"# Model card: {path.stem}",
        "",
        f"An image classifier for {len(classes)} classes, made by this project's own pipeline "
        f"(`flask dataset split` → `flask train` → `flask export-onnx`).",
        "",
        "## Classes",
        "",
        "| " + " | ".join(["index", "class", *(f"label ({lang})" for lang in sorted(names))]) + " |",
        "|" + " --- |" * (2 + len(names)),
    ]
    for i, cls in enumerate(classes):
        lines.append("| " + " | ".join([str(i), cls, *(names[lang][i] for lang in sorted(names))]) + " |")
    lines += glance(path, meta)
    counts = data.get("counts", {})
    lines += [
        "",
        "## Data",
        "",
        f"- Source: {data_source}",
        f"- Split: `flask dataset split` with seed {cfg.get('seed', 0)}; pictures used: "
        + ", ".join(f"{part} {n}" for part, n in counts.items())
        + f" (validation held out from train.txt: {cfg.get('val_fraction')}). "
        f"Split fingerprint `{data.get('fingerprint')}`.",
        "",
        "## Training",
        "",
        f"- Architecture: `{meta['arch']}`, ImageNet weights: `{meta.get('pretrained')}`; input "
        f"{meta['input_size']}×{meta['input_size']}, normalisation mean {meta['mean']} std {meta['std']}.",
        f"- Mode `{cfg.get('mode')}`, {cfg.get('epochs')} epochs, {cfg.get('optimizer')} lr {cfg.get('lr')} "
        + (f"(backbone × {cfg.get('backbone_lr_factor')})" if cfg.get("mode") in ("finetune", "last_stages") else "")
        + ", "
        + f"batch {cfg.get('batch_size')}, {cfg.get('schedule')} "
        f"schedule, augmentation {_augmentation(cfg)}; best epoch {meta.get('best_epoch')} "
        "by validation accuracy"
        + (f", then averaged with its start (WiSE-FT, alpha {meta['wise']['alpha']})" if meta.get("wise") else "") + ".",
        f"- Training time: {meta.get('train_seconds', 'n/a')} s of epochs"
        + (f", {wall_seconds:.0f} s for the whole command (decoding, caching, evaluation)" if wall_seconds else "")
        + f", on {_where(meta)}; created {meta.get('created')}.",
        "- Libraries: " + ", ".join(f"{k} {v}" for k, v in (meta.get("versions") or {}).items()),
        f"- Files: `{path.name}` ({_size(path)}), `{onnx_path.name}` ({_size(onnx_path)}); weights stored "
        f"as {meta.get('storage', 'float32')}, computed in float32.",
        "",
        "Reproduce (on 2 CPU cores; the numbers below match within noise):",
        "",
        "```bash",
        command,
        "```",
        "",
        f"## In-source quality: the {metrics.get('part', 'test')} split ({metrics.get('count')} pictures never "
        "seen in training, from the training photos' own sources)",
        "",
        f"- Accuracy: **{_pct(metrics.get('accuracy'))}**; top-{metrics.get('top_k', 3)} accuracy "
        f"{_pct(metrics.get('top_k_accuracy'))}; macro F1 {metrics.get('macro_f1')} "
        f"(scored with the {metrics.get('backend', 'torch')} backend on the files as shipped).",
        f"- At the end of training (float32 weights, torch backend) the same split scored "
        f"{_pct((meta.get('metrics') or {}).get('accuracy'))}, the figure stored in the model file. The two differ by "
        "rounding the weights to float16 and by the backend. The web page, the API and the desktop show the "
        "out-of-source figure first, then this one, each saying which it is.",
        "",
        "| class | precision | recall | F1 | pictures |",
        "| --- | --- | --- | --- | --- |",
    ]
    for cls, row in (metrics.get("per_class") or {}).items():
        lines.append(f"| {cls} | {_pct(row['precision'])} | {_pct(row['recall'])} | {row['f1']:.3f} | {row['support']} |")
    if confusion_path.exists():
        lines += ["", f"![confusion matrix]({confusion_path.name})"]
    wrong = metrics.get("misclassified") or []
    if wrong:
        lines += ["", f"Misclassified test pictures ({len(wrong)}):", ""]
        for item in wrong[:20]:
            shown = {k: item.get(k) for k in ("file", "label", "predicted", "confidence") if k in item}
            lines.append("- " + ", ".join(f"{k} {v}" for k, v in shown.items()))
    lines += out_of_source_section(path)
    lines += ["", "## Known limits", ""] + [f"- {text}" for text in limits] + [""]
    return "\n".join(lines)
