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


def forward_limit(runner, batch, concurrency: int, seconds: float) -> dict:
    """Forward passes per second with `concurrency` threads calling the model back to back (no decoding, no HTTP)."""
    stop = time.perf_counter() + seconds
    counts = [0] * concurrency

    def loop(i: int) -> None:
        while time.perf_counter() < stop:
            runner(batch)
            counts[i] += 1

    runner(batch)
    cpu_before = time.process_time()  # this process's every thread: the passes' CPU (nothing else runs here)
    started = time.perf_counter()
    threads = [threading.Thread(target=loop, args=(i,)) for i in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    cpu = time.process_time() - cpu_before
    return {"concurrency": concurrency, "forwards": sum(counts), "seconds": round(elapsed, 2),
            "throughput_rps": round(sum(counts) / elapsed, 2), "cpu_ms": round(cpu * 1000 / max(1, sum(counts)), 2)}


class InProcess:
    """The model loaded as a web worker loads it; `measure()` takes one round of every in-process row.

    bench/serve.py calls `measure()` once per round, between the server tests of that round, so
    the rows it divides by were taken under the same machine load as the server rows.
    """

    def __init__(self, model: Path, pictures: dict[str, bytes], *, threads: int, upload_max_pixels: int):
        from ml.images import load_image
        from ml.predict import Predictor

        self.pictures = pictures
        self.load_image = load_image
        self.upload_max_pixels = upload_max_pixels
        self.served = Predictor.load(model, backend="onnx", threads=threads)  # as a web worker loads it
        self.default = Predictor.load(model, backend="onnx")  # onnxruntime's default: every core for one call
        self.torch = Predictor.load(model, backend="torch")
        self.batch = self.served.preprocess([pictures["small" if "small" in pictures else next(iter(pictures))]])
        self.samples: dict[str, list[float]] = {}
        self.limits: dict[str, list[dict]] = {}

    def decode(self, data: bytes):
        """What the web app does with an upload (webapp.serving.decode_upload)."""
        return self.load_image(data, max_pixels=self.upload_max_pixels, target=self.served.size)

    def _time(self, name: str, fn, repeat: int) -> None:
        fn()
        for _ in range(repeat):
            started = time.perf_counter()
            fn()
            self.samples.setdefault(name, []).append((time.perf_counter() - started) * 1000)

    def measure(self, repeat: int, concurrency: list[int], limit_seconds: float) -> None:
        """One round: forward alone, decoding (full vs reduced), predict per picture, forward-only limits."""
        self._time("forward_onnx", lambda: self.served._runner(self.batch), repeat)
        self._time("forward_onnx_all_cores", lambda: self.default._runner(self.batch), repeat)
        self._time("forward_torch_eager", lambda: self.torch._runner(self.batch), max(3, repeat // 4))
        for name, data in self.pictures.items():
            self._time(f"decode_full_{name}", lambda d=data: self.load_image(d), max(3, repeat // 4))
            self._time(f"decode_reduced_{name}", lambda d=data: self.decode(d), repeat)
            self._time(f"predict_in_process_{name}", lambda d=data: self.served.predict(self.decode(d)), repeat)
        for c in concurrency:
            self.limits.setdefault(str(c), []).append(forward_limit(self.served._runner, self.batch, c, limit_seconds))

    def results(self) -> dict:
        """Every row over all rounds: latencies pooled; a limit is the median of its rounds."""
        out: dict = {name: summarise(samples) for name, samples in self.samples.items()}
        out["forward_limit"] = {}
        for c, rounds in self.limits.items():
            best = sorted(rounds, key=lambda r: r["throughput_rps"])[len(rounds) // 2]
            out["forward_limit"][c] = best | {"rounds": [r["throughput_rps"] for r in rounds]}
        return out


def agreement(model: Path, photos: list[bytes]) -> dict:
    """How far reduced decoding moves the answers from full decoding (max |Δp| per photo, top-1 agreement).

    Beside it, for scale, how far the answers move when the same photo is saved once more as a JPEG
    at quality 91 (what any re-save, messenger or upload tool does to a photo), both decoded in full.
    """
    import io

    import numpy as np

    from ml.images import load_image
    from ml.predict import Predictor

    predictor = Predictor.load(model, backend="onnx")
    diffs, resaved, same = [], [], 0
    for data in photos:
        decoded = load_image(data)
        full = predictor.probabilities([decoded])[0]
        reduced = predictor.probabilities([load_image(data, target=predictor.size)])[0]
        buf = io.BytesIO()
        decoded.save(buf, "JPEG", quality=91)
        again = predictor.probabilities([load_image(buf.getvalue())])[0]
        diffs.append(float(np.abs(full - reduced).max()))
        resaved.append(float(np.abs(full - again).max()))
        same += int(full.argmax() == reduced.argmax())
    return {"photos": len(photos), "max_abs_diff": round(max(diffs), 4), "mean_max_abs_diff": round(statistics.fmean(diffs), 4),
            "within_1pt": sum(d <= 0.01 for d in diffs), "top1_agree": same,
            "resaved_q91": {"max_abs_diff": round(max(resaved), 4), "mean_max_abs_diff": round(statistics.fmean(resaved), 4),
                            "within_1pt": sum(d <= 0.01 for d in resaved)}}
