"""Gather bench/results/*.json into docs/benchmarks.md: one page, every comparison as a ratio.

    .venv/bin/python bench/report.py        (run last by `make bench`)
"""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
OUT = ROOT / "docs" / "benchmarks.md"


def md_table(headers: list[str], rows: list[list[object]]) -> str:
    """A Markdown table."""
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def predict_section(data: dict) -> str:
    batch = data["batch"]
    key = f"batch{batch}_img_per_s"
    rows = [[r["arch"], r["case"], r["batch1_ms"], f"{r['batch1_speedup']}×", r[key], f"{r['batch_speedup']}×"] for r in data["rows"]]
    diffs = [r["max_prob_diff_torch_vs_onnx"] for r in data["rows"] if "max_prob_diff_torch_vs_onnx" in r]
    return "\n\n".join(
        [
            "## Prediction: eager torch vs onnxruntime vs the whole Predictor",
            "`.venv/bin/python bench/predict.py` — random-weight models at 224 px (speed does not depend on the "
            f"weights), pictures: {data['pictures']}; medians of repeated calls. Ratios are against eager torch "
            "forward at the same batch size. \"Predictor\" includes reading the file, decoding, resizing and "
            "normalising, so it is slower than a bare forward pass on the same backend.",
            md_table(["model", "path", "1 image (ms)", "vs torch", f"batch {batch} (img/s)", "vs torch"], rows),
            f"torch and ONNX answers on the same photo differ by at most {max(diffs):.1e} in probability." if diffs else "",
        ]
    )


def train_section(data: dict) -> str:
    rows = [[r["run"], r["epochs"], r["wall_s"], f"{r['speedup_vs_baseline']}×", f"{r['test_accuracy']:.1%}"] for r in data["runs"]]
    return "\n\n".join(
        [
            f"## Training: our modes vs a loop written like the original ({data['arch']}, animals5)",
            "`.venv/bin/python bench/train.py` — same ImageNet backbone, same 540 training / 150 test pictures "
            "(split seed 0), same epochs for the baseline and finetune. The baseline decodes and resizes every "
            "picture again in every epoch and trains the whole network, like the original train.py; `linear` "
            "trains only the last layer on features computed once.",
            md_table(["run", "epochs", "wall (s)", "speed vs baseline", "test accuracy (in-source: animals5 split)"], rows),
        ]
    )


def crawl_section(data: dict) -> str:
    s, c = data["serial"], data["concurrent"]
    rows = [
        ["one thread", s["workers"], s["wall_s"], s["images_per_s"], "1.0×"],
        [f"{c['workers']} workers, {c['per_host']} per host", c["workers"], c["wall_s"], c["images_per_s"], f"{data['speedup']}×"],
    ]
    return "\n\n".join(
        [
            "## Crawling: concurrent downloads vs one thread",
            f"`.venv/bin/python bench/crawl.py` — {data['count']} pictures from the local fake Baidu server, "
            f"{data['latency_s'] * 1000:.0f} ms latency per picture, {data['hosts']} loopback hosts.",
            md_table(["run", "workers", "wall (s)", "images/s", "speed-up"], rows),
        ]
    )


def _loads(values) -> str:
    return ", ".join(f"{v:.1f}" for v in values) if values else "n/a"


def serve_section(data: dict) -> str:
    raw = data.get("raw", {})
    rows = []
    names = {"forward_onnx": "in-process forward, onnxruntime (worker's threads)",
             "forward_onnx_all_cores": "in-process forward, onnxruntime (every core)",
             "forward_torch_eager": "in-process forward, eager torch",
             "decode_full_phone": "in-process decode, full size", "decode_reduced_phone": "in-process decode, reduced",
             "predict_in_process_phone": "in-process decode + predict",
             "decode_full_small": "in-process decode, full size", "decode_reduced_small": "in-process decode, reduced",
             "predict_in_process_small": "in-process decode + predict",
             "predict_in_process_onnx": "in-process Predictor.predict (ONNX)"}
    for key, label in names.items():
        if key in raw:
            picture = "phone" if key.endswith("_phone") else "small" if key.endswith("_small") else ""
            rows.append([label, picture, 1, raw[key]["p50_ms"], raw[key]["p95_ms"], "", ""])
    for clients, row in (raw.get("forward_limit") or {}).items():
        rows.append(["in-process forward-only limit", "", clients, "", "", row["throughput_rps"], ""])
    base = {}
    for row in data.get("servers", []):
        if "dev server" in row["server"]:
            base[(row.get("picture", "small"), row["concurrency"])] = row["throughput_rps"]
    for row in data.get("servers", []):
        picture = row.get("picture", "small")
        ratio = base.get((picture, row["concurrency"]))
        rows.append([row["server"], picture, row["concurrency"], row["p50_ms"], row["p95_ms"], row["throughput_rps"],
                     f"{row['throughput_rps'] / ratio:.2f}×" if ratio else ""])
    load = data.get("machine", {})
    uploads = data.get("upload_bytes")
    uploads = ", ".join(f"{k} {v} bytes" for k, v in uploads.items()) if isinstance(uploads, dict) else f"{uploads} bytes"
    parts = [
        "## Serving: upload → answer under gunicorn vs the original-style server",
        f"`.venv/bin/python bench/serve.py` — model `{Path(str(data.get('model'))).name}`, JPEG uploads ({uploads}; "
        f"phone = 4032×3024 q92), gunicorn {data.get('workers')} workers × {data.get('threads')} threads, "
        f"database {data.get('database')}; load average before/after {_loads(load.get('load_average_before'))} / "
        f"{_loads(load.get('load_average_after'))} on {os.cpu_count()} cores. Throughput ratio is against the "
        "original-style dev server (eager torch, model loaded once) at the same picture and client count.",
        md_table(["what", "picture", "clients", "p50 ms", "p95 ms", "req/s", "throughput vs baseline"], rows),
    ]
    if data.get("targets"):
        parts.append(md_table(["target (same run)", "ratio", "bound", "met", "how"],
                              [[t["target"], t["ratio"], t["bound"] or "", "" if t["met"] is None else "yes" if t["met"] else "**no**", t["how"]]
                               for t in data["targets"]]))
    a = data.get("agreement")
    if a:
        parts.append(f"Reduced vs full decoding on {a['photos']} {a['source']} phone photos: largest probability "
                     f"difference {a['max_abs_diff']}, mean of the per-photo largest {a['mean_max_abs_diff']}, "
                     f"same top-1 on {a['top1_agree']} of {a['photos']}.")
    return "\n\n".join(parts)


def explain_section(data: dict) -> str:
    load = data.get("machine", {})
    rows = [[r["case"], r["ms"], f"{r['x_vs_onnx_predict']}×"] for r in data["rows"]]
    return "\n\n".join([
        "## Why this answer: a Grad-CAM heat map vs a plain prediction (same model, same photos)",
        f"`.venv/bin/python bench/explain.py` — model `{Path(str(data.get('model'))).name}` ({data.get('arch')}, "
        f"{data.get('input_size')} px), {data.get('photos')} decoded once, medians of {data.get('repeat')} calls per "
        f"photo, the paths taking turns on each photo; torch and onnxruntime {load.get('torch_threads')} thread(s) "
        f"each; load average before/after {_loads(load.get('load_average_before'))} / "
        f"{_loads(load.get('load_average'))} on {os.cpu_count()} cores. Ratios are against `Predictor.classify` on "
        "the ONNX export (what the web app and the desktop answer with). The heat map is a forward and a backward "
        "pass of the eager model plus the PNG overlay, computed only when a person asks.",
        md_table(["path", "per photo (ms)", "vs Predictor (onnx)"], rows),
        f"The heat map explained the served answer's class on {data.get('same_class_as_answer')} photos.",
    ])


SECTIONS = {"predict": predict_section, "train": train_section, "crawl": crawl_section, "serve": serve_section, "explain": explain_section}


def main() -> None:
    parts = [
        "# Benchmarks",
        "",
        "Produced by `make bench` (each script compares against its own baseline in the same run; absolute "
        "times drift on a shared machine, the ratios are the result). Raw numbers: `bench/results/*.json`.",
        "",
        f"Machine: {os.cpu_count()} CPU cores, no GPU, {platform.platform()}, Python {platform.python_version()}; "
        f"page written {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}.",
    ]
    for name, render in SECTIONS.items():
        path = RESULTS / f"{name}.json"
        if not path.exists():
            parts += ["", f"## {name}", "", f"No results yet: run `.venv/bin/python bench/{name}.py`."]
            continue
        parts += ["", render(json.loads(path.read_text(encoding="utf-8")))]
    OUT.write_text("\n".join(parts) + "\n", encoding="utf-8")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    sys.exit(main())
