"""Benchmark: prediction latency and throughput, eager torch vs onnxruntime vs the whole Predictor.

    .venv/bin/python bench/predict.py [--repeat 20] [--batch 32] [--images DIR]

For each backbone (resnet18, efficientnet_lite0; random weights: speed does not depend on them)
it measures, in the same run and on the same pictures:

  torch forward      eager `model(x)` under `torch.inference_mode()` on a ready tensor
  onnx forward       `InferenceSession.run` on the same ready array
  Predictor (torch)  `Predictor.predict(path)`: file read + decode + resize + normalise + forward + top-3
  Predictor (onnx)   the same through the ONNX backend (what the web app and desktop use)

at batch 1 (latency per picture) and at `--batch` (throughput). Ratios are against eager torch
forward at the same batch size. Pictures: the animals5 photos when ../shared is present, else
generated ones. Prints a table; writes bench/results/predict.json.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from bench.common import machine, write_result  # noqa: E402
from ml.artifact import save_artifact  # noqa: E402
from ml.export import export_onnx  # noqa: E402
from ml.models import build_model, get_arch  # noqa: E402
from ml.predict import Predictor  # noqa: E402
from webapp.cli.console import table  # noqa: E402

SHARED = ROOT.parent / "shared" / "datasets" / "animals5"
CLASSES = ["cat", "cow", "dog", "horse", "sheep"]


def pictures(folder: Path | None, n: int, scratch: Path) -> list[Path]:
    """`n` picture files: real photos when available, else generated ones written to `scratch`."""
    if folder and folder.is_dir():
        files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
        if len(files) >= n:
            step = len(files) // n
            return files[::step][:n]
    from tests.imagegen import encode, shapes

    out = []
    for i in range(n):
        path = scratch / f"gen{i:03d}.jpg"
        path.write_bytes(encode(shapes(i, (300, 225)), "JPEG", quality=90))
        out.append(path)
    return out


def timed(fn, repeat: int) -> float:
    """Median seconds of `repeat` calls after one warm-up call."""
    fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def make_model(arch: str, folder: Path) -> Path:
    """A random-weight model file plus its ONNX export for `arch`."""
    spec = get_arch(arch)
    model = build_model(arch, len(CLASSES), pretrained="none")
    path = folder / f"{arch}.pt"
    meta = {"arch": arch, "classes": CLASSES, "input_size": 224, "mean": list(spec.mean), "std": list(spec.std)}
    save_artifact(path, model.state_dict(), meta)
    export_onnx(path)
    return path


def bench_arch(arch: str, files: list[Path], batch: int, repeat: int, scratch: Path) -> list[dict]:
    """Every row of the table for one backbone."""
    path = make_model(arch, scratch)
    p_torch = Predictor.load(path, backend="torch")
    p_onnx = Predictor.load(path, backend="onnx")
    x1 = p_onnx.preprocess([files[0]])
    xb = p_onnx.preprocess(files[:batch])
    model = p_torch._runner.model
    session = p_onnx._runner.session
    name = session.get_inputs()[0].name

    def torch_fwd(x):
        with torch.inference_mode():
            model(torch.from_numpy(x))

    def onnx_fwd(x):
        session.run(None, {name: x})

    cases = [
        ("torch forward", lambda: torch_fwd(x1), lambda: torch_fwd(xb)),
        ("onnx forward", lambda: onnx_fwd(x1), lambda: onnx_fwd(xb)),
        ("Predictor (torch)", lambda: p_torch.predict(files[0]), lambda: p_torch.predict_many(files[:batch], batch_size=batch)),
        ("Predictor (onnx)", lambda: p_onnx.predict(files[0]), lambda: p_onnx.predict_many(files[:batch], batch_size=batch)),
    ]
    rows = []
    base1 = baseb = None
    for label, one, many in cases:
        t1 = timed(one, repeat)
        tb = timed(many, max(3, repeat // 4))
        base1 = base1 or t1
        baseb = baseb or tb
        rows.append(
            {
                "arch": arch,
                "case": label,
                "batch1_ms": round(t1 * 1000, 2),
                "batch1_speedup": round(base1 / t1, 2),
                f"batch{batch}_img_per_s": round(batch / tb, 1),
                "batch_speedup": round(baseb / tb, 2),
            }
        )
    # Both backends must give the same answer on a real picture, or the speed means nothing.
    a = p_torch.probabilities([files[0]])
    b = p_onnx.probabilities([files[0]])
    rows[-1]["max_prob_diff_torch_vs_onnx"] = float(np.abs(a - b).max())
    return rows


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--images", type=Path, default=SHARED)
    parser.add_argument("--arch", nargs="+", default=["resnet18", "efficientnet_lite0"])
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "predict.json")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        scratch = Path(tmp)
        files = pictures(args.images, args.batch, scratch)
        rows = [row for arch in args.arch for row in bench_arch(arch, files, args.batch, args.repeat, scratch)]
    bkey = f"batch{args.batch}_img_per_s"
    print(
        table(
            ["model", "path", "1 image (ms)", "× vs torch", f"batch {args.batch} (img/s)", "× vs torch"],
            [[r["arch"], r["case"], r["batch1_ms"], r["batch1_speedup"], r[bkey], r["batch_speedup"]] for r in rows],
        )
    )
    result = {
        "benchmark": "predict",
        "machine": machine() | {"torch_threads": torch.get_num_threads()},
        "pictures": "animals5" if args.images.is_dir() else "generated 300x225 JPEGs",
        "batch": args.batch,
        "rows": rows,
    }
    return write_result(args.out, result)


if __name__ == "__main__":
    main()
