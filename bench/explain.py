"""Benchmark: a "Why this answer?" heat map (Grad-CAM) against a plain prediction, same model, same photos.

    .venv/bin/python bench/explain.py [--model models/default/animals5.pt] [--photos DIR] [--count 10]
                                      [--repeat 3] [--threads 1]

Every photo is decoded once (as the web app decodes an upload); then, in the same run:

  Predictor (onnx)    `classify(image)`: what the web app and the desktop answer with (the baseline)
  Predictor (torch)   the same through eager torch
  heat map            `ml.explain.explain(model, image)`: forward + backward + Grad-CAM + PNG overlay
  heat map, first     the first heat map of the process: it builds the model from the .pt first

Medians per photo over `--count` photos × `--repeat` calls, the three paths taking turns on each
photo (a shared machine's load then weighs on all alike); ratios are against Predictor (onnx).
torch and onnxruntime get `--threads` threads each (1: as a web worker serves). Prints a table;
writes bench/results/explain.json.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from bench.common import machine, write_result  # noqa: E402
from ml.explain import explain  # noqa: E402
from ml.images import load_image  # noqa: E402
from ml.predict import Predictor  # noqa: E402
from webapp.cli.console import table  # noqa: E402

DEFAULT_MODEL = ROOT / "models" / "default" / "animals5.pt"
SHARED = ROOT.parent / "shared" / "datasets" / "animals5"


def photos(folder: Path, count: int) -> list[Path]:
    """`count` photos spread over the folder's classes (sorted, every n-th)."""
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png", ".webp"))
    if not files:
        raise SystemExit(f"No photos under {folder}")
    step = max(1, len(files) // count)
    return files[::step][:count]


def interleaved_medians(cases: dict, images, repeat: int) -> dict[str, float]:
    """Median milliseconds per case of `fn(image)`, the cases taking turns on each photo so that the
    machine's load drifts over all of them alike (one warm-up call each first)."""
    times: dict[str, list[float]] = {name: [] for name in cases}
    for fn in cases.values():
        fn(images[0])
    for _ in range(repeat):
        for image in images:
            for name, fn in cases.items():
                start = time.perf_counter()
                fn(image)
                times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) * 1000.0 for name, t in times.items()}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    parser.add_argument("--photos", type=Path, default=SHARED)
    parser.add_argument("--count", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "explain.json")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    load_before = [round(v, 2) for v in os.getloadavg()]

    onnx = Predictor.load(args.model, backend="onnx", threads=args.threads)
    eager = Predictor.load(args.model, backend="torch")
    files = photos(args.photos, args.count)
    images = [load_image(f, target=onnx.size) for f in files]

    start = time.perf_counter()
    first = explain(args.model, images[0])  # cold: builds the model from the .pt
    first_ms = (time.perf_counter() - start) * 1000.0
    medians = interleaved_medians({
        "Predictor (onnx)": lambda im: onnx.classify(im, k=3),
        "Predictor (torch)": lambda im: eager.classify(im, k=3),
        "heat map (Grad-CAM)": lambda im: explain(args.model, im),
    }, images, args.repeat)
    cases = [*medians.items(), ("heat map, first of the process", first_ms)]
    base = cases[0][1]
    rows = [{"case": name, "ms": round(ms, 1), "x_vs_onnx_predict": round(ms / base, 2)} for name, ms in cases]
    # The heat map explains the class the served model answers with, or the timing compares different work.
    agree = sum(explain(args.model, im).label == onnx.classify(im, k=1).top_k[0][0] for im in images)
    print(table(["path", "per photo (ms)", "× Predictor (onnx)"], [[r["case"], r["ms"], r["x_vs_onnx_predict"]] for r in rows]))
    print(f"\nheat map class = served answer on {agree}/{len(images)} photos; overlay {first.heatmap.shape[1]}×"
          f"{first.heatmap.shape[0]} px, {len(first.png)} bytes PNG")
    result = {
        "benchmark": "explain",
        "machine": machine() | {"load_average_before": load_before, "torch_threads": torch.get_num_threads(), "onnx_threads": args.threads},
        "model": str(args.model.relative_to(ROOT) if args.model.is_relative_to(ROOT) else args.model),
        "arch": (onnx.info or {}).get("arch"),
        "input_size": onnx.size,
        "photos": f"{len(files)} photos from {args.photos.name}",
        "repeat": args.repeat,
        "same_class_as_answer": f"{agree}/{len(images)}",
        "rows": rows,
    }
    return write_result(args.out, result)


if __name__ == "__main__":
    main()
