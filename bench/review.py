"""What the review job costs: setting up the frozen backbone, embedding each picture, judging them all.

    .venv/bin/python bench/review.py [--pictures 64] [--sizes 128,224] [--judge 1000,10000]

Generated pictures (4 colour classes, 160×120 JPEGs) in a temporary dataset, one torch thread. For
each input size it times the backbone's setup (EfficientNet-Lite0 with its ImageNet weights, the
ONNX export `ml.frozen` makes) and the embedding of every picture (decode, resize, features), per picture; then `judge` alone
on random 1280-number features for N pictures. Ratios are against the 224 px embedding per picture.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

from bench.common import machine, write_result  # noqa: E402
from ml.review import _embed, _pictures, backbone_forward, judge  # noqa: E402
from tests.imagegen import CLASS_COLOURS, encode, tinted  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pictures", type=int, default=64)
    parser.add_argument("--sizes", default="128,224")
    parser.add_argument("--judge", default="1000,10000")
    parser.add_argument("--out", type=Path, default=Path("bench/results/review.json"))
    args = parser.parse_args()
    import torch

    torch.set_num_threads(1)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "ds"
        for i in range(args.pictures):
            folder = root / f"c{i % 4}"
            folder.mkdir(parents=True, exist_ok=True)
            (folder / f"{i:04d}.jpg").write_bytes(encode(tinted(i, CLASS_COLOURS[i % 4], (160, 120))))
        _classes, files, _labels = _pictures(root)
        backbone_forward("efficientnet_lite0", 64)  # imports and weights file read once, outside the timings
        for size in (int(s) for s in args.sizes.split(",")):
            start = time.perf_counter()
            forward, _size = backbone_forward("efficientnet_lite0", size)
            setup = time.perf_counter() - start
            start = time.perf_counter()
            _embed(root, files, size, forward, None, None, "embedding")
            per = (time.perf_counter() - start) / args.pictures
            rows.append({"what": f"embed at {size} px", "setup_s": setup, "per_picture_s": per})
    base = next((r["per_picture_s"] for r in rows if r["what"] == "embed at 224 px"), rows[-1]["per_picture_s"])
    print("| step | setup | per picture (ratio to 224 px) |")
    print("|---|---:|---:|")
    for r in rows:
        print(f"| {r['what']} | {r['setup_s']:.1f} s | {r['per_picture_s'] * 1000:.0f} ms ({r['per_picture_s'] / base:.2f}) |")
    rng = np.random.default_rng(0)
    for n in (int(s) for s in args.judge.split(",")):
        feats = rng.normal(size=(n, 1280)).astype(np.float32)
        labels = rng.integers(0, 5, n)
        start = time.perf_counter()
        judge(feats, labels, 5)
        took = time.perf_counter() - start
        rows.append({"what": f"judge {n} pictures", "setup_s": 0.0, "per_picture_s": took / n})
        print(f"| judge {n:,} pictures | – | {took / n * 1000:.2f} ms ({took / n / base:.3f}); {took:.1f} s in all |")
    write_result(args.out, {"machine": machine(), "pictures": args.pictures, "rows": rows})


if __name__ == "__main__":
    main()
