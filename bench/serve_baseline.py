"""Baseline for bench/serve.py: what the original myflask.py did, kept on purpose.

Flask's development server, eager torch inference inside the request handler with torchvision
transforms, the result printed to stdout. `--load-per-request` also rebuilds the model from its
file in every request (the model "in the request path"). Not part of the product.

    python bench/serve_baseline.py --model MODEL.pt --port 5099 [--load-per-request]
"""

from __future__ import annotations

import argparse
import io
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def make_app(model_path: Path, load_per_request: bool):
    """The baseline Flask app: POST /predict with multipart `file`."""
    import torch
    from flask import Flask, jsonify, request
    from PIL import Image
    from torchvision import transforms

    from ml.artifact import build_from_artifact

    def load():
        model, meta = build_from_artifact(model_path)
        size = int(meta["input_size"])
        transform = transforms.Compose(
            [transforms.Resize(size), transforms.CenterCrop(size), transforms.ToTensor(),
             transforms.Normalize(meta["mean"], meta["std"])]
        )
        return model.eval(), meta["classes"], transform

    loaded = None if load_per_request else load()  # the original loaded at import time
    app = Flask(__name__)

    @app.post("/predict")
    def predict():
        """Classify the uploaded picture in the request thread, like the original did."""
        model, classes, transform = load() if load_per_request else loaded
        started = time.perf_counter()
        image = Image.open(io.BytesIO(request.files["file"].read())).convert("RGB")
        with torch.no_grad():
            probs = torch.softmax(model(transform(image).unsqueeze(0)), dim=1)[0]
        values, indices = probs.topk(min(3, len(classes)))
        print(probs)  # the original printed its tensors on every request
        return jsonify(
            predictions=[{"label": classes[i], "probability": float(v)} for v, i in zip(values, indices, strict=True)],
            latency_ms=(time.perf_counter() - started) * 1000,
        )

    @app.get("/healthz")
    def healthz():
        return jsonify(status="ok")

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, type=Path)
    parser.add_argument("--port", required=True, type=int)
    parser.add_argument("--load-per-request", action="store_true")
    args = parser.parse_args()
    make_app(args.model, args.load_per_request).run(host="127.0.0.1", port=args.port, threaded=True)


if __name__ == "__main__":
    main()
