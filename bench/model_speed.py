"""Benchmark: single-photo forward time of the shipped model against the previous default, same run.

    .venv/bin/python bench/model_speed.py [--repeat 60]

The previous default was EfficientNet-Lite0 at 224 px; its graph is rebuilt here (random weights:
speed does not depend on them) and exported like the shipped model, then both run in onnxruntime
with one intra-op thread (as the web app serves), interleaved so machine load hits both alike.
Also times the open-set check on the pooled features. Prints a table; writes bench/results/model_speed.json.
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

from bench.common import machine, write_result  # noqa: E402
from webapp.cli.console import table  # noqa: E402

SHIPPED = ROOT / "models" / "default" / "animals5.pt"


def _baseline(scratch: Path) -> Path:
    """The previous default's architecture (lite0, 224 px, 5 classes) as a model file with an ONNX export."""
    from ml.artifact import save_artifact
    from ml.export import export_onnx
    from ml.models import build_model, get_arch

    spec = get_arch("efficientnet_lite0")
    model = build_model("efficientnet_lite0", 5, pretrained="none")
    meta = {"arch": "efficientnet_lite0", "classes": ["cat", "cow", "dog", "horse", "sheep"], "input_size": 224,
            "mean": list(spec.mean), "std": list(spec.std)}
    path = save_artifact(scratch / "lite0.pt", model.state_dict(), meta)
    export_onnx(path)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=60)
    args = parser.parse_args()
    from ml.predict import Predictor

    with tempfile.TemporaryDirectory() as tmp:
        models = {"previous default (lite0, 224 px)": _baseline(Path(tmp)), f"shipped ({SHIPPED.stem})": SHIPPED}
        loaded = {name: Predictor.load(path, backend="onnx", threads=1) for name, path in models.items()}
        inputs = {name: np.random.default_rng(0).standard_normal((1, 3, p.size, p.size)).astype(np.float32)
                  for name, p in loaded.items()}
        times: dict[str, list[float]] = {name: [] for name in loaded}
        check: list[float] = []
        for _ in range(3):
            for name, p in loaded.items():
                p._runner(inputs[name])  # warm-up
        for _ in range(args.repeat):
            for name, p in loaded.items():
                start = time.perf_counter()
                logits, features = p._runner(inputs[name])
                times[name].append(time.perf_counter() - start)
                if p.has_open_set:
                    from ml.openset import flag_unknown

                    start = time.perf_counter()
                    flags, _ = flag_unknown(logits, features, {"open_set": p._open_set})
                    assert flags is not None  # the check really ran
                    check.append(time.perf_counter() - start)
        base = statistics.median(next(iter(times.values())))
        rows, result = [], {"machine": machine(), "repeat": args.repeat, "rows": []}
        for name, values in times.items():
            med = statistics.median(values)
            files = sum(f.stat().st_size for f in models[name].parent.glob(models[name].stem + ".*")
                        if f.suffix in (".pt", ".onnx", ".json"))
            shown = f"{files / 1e6:.1f} MB" if models[name] == SHIPPED else "(float32 rebuild)"
            rows.append([name, loaded[name].size, f"{med * 1000:.1f}", f"{med / base:.2f}x", shown])
            result["rows"].append({"model": name, "input": loaded[name].size, "median_ms": round(med * 1000, 2),
                                   "ratio": round(med / base, 3), "files_mb": round(files / 1e6, 2)})
        if check:
            rows.append(["open-set check (knn, numpy)", "", f"{statistics.median(check) * 1000:.3f}", "", ""])
            result["open_set_ms"] = round(statistics.median(check) * 1000, 3)
    print(table(["model", "input px", "forward ms (median)", "vs previous", "model files"], rows))
    write_result(ROOT / "bench" / "results" / "model_speed.json", result)


if __name__ == "__main__":
    main()
