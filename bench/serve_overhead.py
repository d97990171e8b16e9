"""What the web app adds to one prediction, without HTTP: `POST /api/v1/predict` through the WSGI app minus the
same decode + predict called directly, in one process, on the shipped model (SQLite, rate limits off).

The difference is the app's own work per request: routing, multipart parsing, the active-model
lookup, the prediction log, JSON. Run it in two checkouts to compare them (docs/pages.md does):

    .venv/bin/python bench/serve_overhead.py [--rounds 8] [--calls 10]
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--calls", type=int, default=10)
    args = parser.parse_args()
    from werkzeug.test import EnvironBuilder

    from ml.images import load_image
    from ml.predict import Predictor
    from tests.conftest import make_app, register_tiny
    from tests.imagegen import encode, shapes

    model = ROOT / "models" / "default" / "animals5.pt"
    app = make_app(Path(tempfile.mkdtemp(prefix="bench-overhead-")), redis=None, PREDICT_THREADS=1,
                   RATELIMIT_ENABLED=False)
    register_tiny(app, model, name="shipped")
    data = encode(shapes(11, size=(640, 480)), quality=90)
    predictor = Predictor.load(model, backend="onnx", threads=1)
    reduced = {"target": predictor.size} if "target" in load_image.__code__.co_varnames else {}

    def environ():
        return EnvironBuilder(method="POST", path="/api/v1/predict",
                              data={"file": (io.BytesIO(data), "photo.jpg")}).get_environ()

    def through_app():
        status = []
        b"".join(app.wsgi_app(environ(), lambda s, h, exc=None: status.append(s)))
        assert status[0].startswith("200"), status

    def direct():
        predictor.predict(load_image(data, **reduced))

    for _ in range(5):
        through_app()
        direct()
    overheads = []
    for _ in range(args.rounds):
        ms = {}
        for name, fn in (("app", through_app), ("direct", direct), ("environ", environ)):
            started = time.perf_counter()
            for _ in range(args.calls):
                fn()
            ms[name] = (time.perf_counter() - started) / args.calls * 1000
        overheads.append(ms["app"] - ms["direct"] - ms["environ"])  # building the request is the client's work
    print(f"app overhead per request: median {statistics.median(overheads):.2f} ms over {args.rounds} rounds "
          f"(min {min(overheads):.2f}, max {max(overheads):.2f})")


if __name__ == "__main__":
    main()
