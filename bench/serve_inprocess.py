"""In-process measurements for bench/serve.py: the bare forward pass, decoding, the whole predict, the forward-only limit.

Everything here runs the model the way a web worker does (onnxruntime with `threads` intra-op
threads, PREDICT_THREADS in the app, 1 by default), so the server rows of the same run can be
divided by these.
"""

from __future__ import annotations

import statistics
import threading
import time
from pathlib import Path


def summarise(latencies_ms: list[float], elapsed_s: float | None = None, errors: int = 0) -> dict:
    """p50/p95/mean in ms (and requests per second when `elapsed_s` is given)."""
    ordered = sorted(latencies_ms)

    def pct(p: float) -> float:
        return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]

    out = {"n": len(ordered), "p50_ms": round(pct(50), 2), "p95_ms": round(pct(95), 2),
           "mean_ms": round(statistics.fmean(ordered), 2), "errors": errors}
    if elapsed_s:
        out["throughput_rps"] = round(len(ordered) / elapsed_s, 2)
    return out


def time_calls(fn, repeat: int, warmup: int = 3) -> dict:
    """Latency of `fn()` over `repeat` calls after `warmup` calls."""
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - started) * 1000)
    return summarise(samples)


def forward_limit(runner, batch, concurrency: int, seconds: float) -> dict:
    """Forward passes per second with `concurrency` threads calling the model back to back (no decoding, no HTTP)."""
    stop = time.perf_counter() + seconds
    counts = [0] * concurrency

    def loop(i: int) -> None:
        while time.perf_counter() < stop:
            runner(batch)
            counts[i] += 1

    runner(batch)
    started = time.perf_counter()
    threads = [threading.Thread(target=loop, args=(i,)) for i in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    return {"concurrency": concurrency, "forwards": sum(counts), "seconds": round(elapsed, 2),
            "throughput_rps": round(sum(counts) / elapsed, 2)}


def raw_timings(model: Path, pictures: dict[str, bytes], repeat: int, *, threads: int, upload_max_pixels: int,
                concurrency: list[int], limit_seconds: float) -> dict:
    """Forward alone, decoding (full vs reduced), in-process predict per picture, and the forward-only limit."""
    from ml.images import load_image
    from ml.predict import Predictor

    served = Predictor.load(model, backend="onnx", threads=threads)  # as a web worker loads it
    default = Predictor.load(model, backend="onnx")  # onnxruntime's default: every core for one request
    torch_predictor = Predictor.load(model, backend="torch")
    batch = served.preprocess([pictures["small"]])

    def decode(data: bytes):
        return load_image(data, max_pixels=upload_max_pixels, target=served.size)

    out: dict = {
        "forward_onnx": time_calls(lambda: served._runner(batch), repeat),
        "forward_onnx_all_cores": time_calls(lambda: default._runner(batch), repeat),
        "forward_torch_eager": time_calls(lambda: torch_predictor._runner(batch), max(5, repeat // 3)),
    }
    for name, data in pictures.items():
        out[f"decode_full_{name}"] = time_calls(lambda d=data: load_image(d), max(5, repeat // 3))
        out[f"decode_reduced_{name}"] = time_calls(lambda d=data: decode(d), repeat)
        out[f"predict_in_process_{name}"] = time_calls(lambda d=data: served.predict(decode(d)), repeat)
    out["forward_limit"] = {str(c): forward_limit(served._runner, batch, c, limit_seconds) for c in concurrency}
    return out


def agreement(model: Path, photos: list[bytes]) -> dict:
    """How far reduced decoding moves the answers from full decoding (max |Δp| per photo, top-1 agreement)."""
    import numpy as np

    from ml.images import load_image
    from ml.predict import Predictor

    predictor = Predictor.load(model, backend="onnx")
    diffs, same = [], 0
    for data in photos:
        full = predictor.probabilities([load_image(data)])[0]
        reduced = predictor.probabilities([load_image(data, target=predictor.size)])[0]
        diffs.append(float(np.abs(full - reduced).max()))
        same += int(full.argmax() == reduced.argmax())
    return {"photos": len(photos), "max_abs_diff": round(max(diffs), 4), "mean_max_abs_diff": round(statistics.fmean(diffs), 4),
            "top1_agree": same}
