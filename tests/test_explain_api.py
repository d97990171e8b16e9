"""POST /api/v1/explain: the Grad-CAM heat map of the active (tiny, trained) model over an upload, and its errors."""

from __future__ import annotations

import base64
import io
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.conftest import make_app, register_tiny
from tests.imagegen import encode, shapes

pytest.importorskip("torch")

REPO = Path(__file__).resolve().parent.parent


def _upload(data: bytes, **fields):
    return {"file": (io.BytesIO(data), "pic.jpg"), **fields}


def _jpeg(seed: int = 3) -> bytes:
    return encode(shapes(seed, (96, 72), colour=(220, 40, 40)))


def _overlay(body: dict) -> np.ndarray:
    prefix = "data:image/png;base64,"
    assert body["image"].startswith(prefix)
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(body["image"][len(prefix):]))).convert("RGB"))


def test_explain_answers_the_top_class_with_a_png_overlay(app, client, tiny_model):
    model_id = register_tiny(app, tiny_model)
    predicted = client.post("/api/v1/predict", data=_upload(_jpeg())).get_json()
    response = client.post("/api/v1/explain", data=_upload(_jpeg()), headers={"Accept-Language": "zh-CN"})
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["model"] == {"id": model_id, "name": "tiny"}
    assert body["label"] == predicted["predictions"][0]["label"]  # default: the answer the page showed
    classes = [c["label"] for c in predicted["model"]["classes"]]
    assert classes[body["class_index"]] == body["label"]
    overlay = _overlay(body)
    assert overlay.shape == (32, 32, 3)  # the model's square view of the picture (32 px model)
    assert body["elapsed_ms"] > 0


def test_explain_another_class_gives_another_map(app, client, tiny_model):
    register_tiny(app, tiny_model)
    first = client.post("/api/v1/explain", data=_upload(_jpeg(), class_index="0")).get_json()
    second = client.post("/api/v1/explain", data=_upload(_jpeg(), class_index="1")).get_json()
    assert (first["class_index"], second["class_index"]) == (0, 1)
    assert first["label"] != second["label"]
    assert not np.array_equal(_overlay(first), _overlay(second))


@pytest.mark.parametrize(("fields", "data", "status", "code"), [
    ({"class_index": "99"}, None, 400, "bad_class"),
    ({"class_index": "one"}, None, 400, "bad_class"),
    ({"class_index": "-1"}, None, 400, "bad_class"),
    ({}, b"<html>not a picture</html>", 400, "not_image"),
    ({}, b"", 400, "empty"),
])
def test_explain_errors_have_stable_codes(app, client, tiny_model, fields, data, status, code):
    register_tiny(app, tiny_model)
    response = client.post("/api/v1/explain", data=_upload(_jpeg() if data is None else data, **fields))
    assert response.status_code == status
    error = response.get_json()["error"]
    assert error["code"] == code and error["message"]


def test_explain_without_file_or_model(client):
    assert client.post("/api/v1/explain", data={}).get_json()["error"]["code"] == "no_file"
    response = client.post("/api/v1/explain", data=_upload(_jpeg()))
    assert response.status_code == 503 and response.get_json()["error"]["code"] == "no_model"


def test_explain_has_its_own_rate_limit(tmp_path, embedded_redis, tiny_model):
    app = make_app(tmp_path, redis=embedded_redis, RATELIMIT_ENABLED=True, RATELIMIT_EXPLAIN="1 per minute")
    register_tiny(app, tiny_model)
    client = app.test_client()
    assert client.post("/api/v1/explain", data=_upload(_jpeg())).status_code == 200
    limited = client.post("/api/v1/explain", data=_upload(_jpeg()))
    assert limited.status_code == 429 and limited.get_json()["error"]["code"] == "rate_limited"
    assert client.post("/api/v1/predict", data=_upload(_jpeg())).status_code == 200  # predictions are counted apart


def test_explain_says_busy_while_another_heat_map_holds_the_model(tmp_path, embedded_redis, tiny_model):
    from ml import explain

    app = make_app(tmp_path, redis=embedded_redis, EXPLAIN_WAIT_S=0.05)
    register_tiny(app, tiny_model)
    explain._run_lock.acquire()  # what a heat map in progress holds
    try:
        response = app.test_client().post("/api/v1/explain", data=_upload(_jpeg()))
    finally:
        explain._run_lock.release()
    assert response.status_code == 503 and response.get_json()["error"]["code"] == "busy"
    assert app.test_client().post("/api/v1/explain", data=_upload(_jpeg())).status_code == 200


def test_web_process_without_torch_predicts_and_says_heat_maps_need_torch(tmp_path, tiny_model, embedded_redis):
    app = make_app(tmp_path, redis=embedded_redis)
    register_tiny(app, tiny_model)
    code = (
        "import io, sys\n"
        "sys.modules['torch'] = None  # as if torch were not installed: `import torch` raises ImportError\n"
        "from webapp import create_app\n"
        f"app = create_app({{'SQLALCHEMY_DATABASE_URI': {app.config['SQLALCHEMY_DATABASE_URI']!r}}})\n"
        "from tests.imagegen import encode, shapes\n"
        "c = app.test_client()\n"
        "pic = encode(shapes(1))\n"
        "r = c.post('/api/v1/predict', data={'file': (io.BytesIO(pic), 'a.jpg')})\n"
        "assert r.status_code == 200, r.get_json()\n"
        "e = c.post('/api/v1/explain', data={'file': (io.BytesIO(pic), 'a.jpg')})\n"
        "print(r.get_json()['model']['backend'], e.status_code, e.get_json()['error']['code'])\n"
        "print(e.get_json()['error']['message'])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=str(REPO))
    assert out.returncode == 0, out.stderr[-2000:]
    first, message = out.stdout.strip().splitlines()
    assert first.split() == ["onnx", "501", "needs_torch"]
    assert "torch" in message
