"""Factory, configuration sources, error pages vs JSON, readiness, and the web process never importing torch."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import make_app, register_tiny
from webapp import create_app


def test_conventional_env_vars_are_read(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgres://u:p@db.example/animals")
    monkeypatch.setenv("REDIS_URL", "redis://cache.example:6379/2")
    monkeypatch.setenv("SECRET_KEY", "s3cret")
    app = create_app()
    assert app.config["SQLALCHEMY_DATABASE_URI"] == "postgresql+psycopg://u:p@db.example/animals"
    assert app.config["REDIS_URL"] == "redis://cache.example:6379/2"
    assert app.config["SECRET_KEY"] == "s3cret"


def test_prefixed_env_wins_over_conventional(monkeypatch):
    monkeypatch.setenv("SECRET_KEY", "plain")
    monkeypatch.setenv("ANIMALS_SECRET_KEY", "prefixed")
    monkeypatch.setenv("ANIMALS_MAX_CONTENT_LENGTH", "1234")
    app = create_app()
    assert app.config["SECRET_KEY"] == "prefixed" and app.config["MAX_CONTENT_LENGTH"] == 1234


def test_defaults_need_no_services(monkeypatch):
    for name in ("DATABASE_URL", "REDIS_URL"):
        monkeypatch.delenv(name, raising=False)
    app = create_app()
    assert app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite:///" + app.instance_path)
    assert app.config["REDIS_URL"] is None  # embedded Redis is started on first use
    assert app.config["DEFAULT_MODEL"].endswith("models/default/animals5.pt")


def test_instance_config_file_is_read(tmp_path):
    (tmp_path / "config.py").write_text("PREDICT_TOP_K = 5\nDATA_DIR = 'pictures'\n")
    app = create_app({"INSTANCE_PATH": str(tmp_path)})
    assert app.config["PREDICT_TOP_K"] == 5
    assert app.config["DATA_DIR"] == str(tmp_path / "pictures")


def test_creating_the_app_and_serving_pages_never_imports_torch(tmp_path):
    code = (
        "import sys\n"
        "from webapp import create_app\n"
        f"app = create_app({{'TESTING': True, 'SQLALCHEMY_DATABASE_URI': 'sqlite:///{tmp_path}/t.db',"
        f" 'DEFAULT_MODEL': '{tmp_path}/none.pt'}})\n"
        "from webapp.extensions import db\n"
        "with app.app_context(): db.create_all()\n"
        "c = app.test_client()\n"
        "for path in ('/', '/healthz', '/api/v1/models', '/api/v1/openapi.json', '/admin/login', '/datasets/'):\n"
        "    assert c.get(path).status_code < 500, path\n"
        "assert c.post('/api/v1/predict', data={}).status_code == 400\n"
        "print('torch' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=str(__import__("pathlib").Path(__file__).parent.parent))
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "False"


def test_onnx_serving_does_not_import_torch(tmp_path, tiny_model, embedded_redis):
    app = make_app(tmp_path, redis=embedded_redis)
    register_tiny(app, tiny_model)
    code = (
        "import io, sys\n"
        "from webapp import create_app\n"
        f"app = create_app({{'SQLALCHEMY_DATABASE_URI': {app.config['SQLALCHEMY_DATABASE_URI']!r}}})\n"
        "from tests.imagegen import encode, shapes\n"
        "r = app.test_client().post('/api/v1/predict', data={'file': (io.BytesIO(encode(shapes(1))), 'a.jpg')})\n"
        "assert r.status_code == 200, r.get_json()\n"
        "print(r.get_json()['model']['backend'], 'torch' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=str(__import__("pathlib").Path(__file__).parent.parent))
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["onnx", "False"]


def test_browser_gets_an_html_error_page_and_api_gets_json(client):
    page = client.get("/no/such/page", headers={"Accept": "text/html"})
    assert page.status_code == 404 and page.mimetype == "text/html"
    assert 'data-code="not_found"' in page.get_data(as_text=True)
    api = client.get("/no/such/page", headers={"Accept": "application/json"})
    assert api.status_code == 404 and api.get_json()["error"]["code"] == "not_found"
    assert client.delete("/api/v1/models").get_json()["error"]["code"] == "method_not_allowed"


def test_readyz_reports_each_dependency(app, client, admin_client, tiny_model):
    response = client.get("/readyz")
    assert response.status_code == 503 and response.get_json() == {"status": "not_ready"}  # public: status only
    checks = admin_client.get("/readyz").get_json()["checks"]  # administrators see each dependency
    assert checks["database"]["ok"] and checks["redis"]["ok"]
    assert checks["model"] == {"ok": False, "code": "no_model", "message": checks["model"]["message"]}
    register_tiny(app, tiny_model)
    response = admin_client.get("/readyz")
    assert response.status_code == 200 and response.get_json()["checks"]["model"]["backend"] == "onnx"
    assert client.get("/readyz").get_json() == {"status": "ready"}


def test_readyz_when_redis_is_down(tmp_path):
    from tests.conftest import create_admin, login

    app = make_app(tmp_path, redis="redis://127.0.0.1:1/0")
    create_admin(app)
    client = app.test_client()
    login(client)
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.get_json()["checks"]["redis"]["code"] == "redis_unavailable"
    assert app.test_client().get("/healthz").status_code == 200


def test_shipped_default_model_is_registered_and_activated_on_first_use(tmp_path, tiny_model, embedded_redis):
    app = make_app(tmp_path, redis=embedded_redis, DEFAULT_MODEL=str(tiny_model))
    import io

    from tests.imagegen import encode, shapes

    response = app.test_client().post("/api/v1/predict", data={"file": (io.BytesIO(encode(shapes(2))), "a.jpg")})
    assert response.status_code == 200, response.get_json()
    models = app.test_client().get("/api/v1/models").get_json()["models"]
    assert len(models) == 1 and models[0]["active"] and models[0]["name"] == "tiny"
    with app.app_context():
        from webapp.registry import activation_history

        assert [(a.model_version_id, a.previous_id, a.via) for a in activation_history()] == [(models[0]["id"], None, "default")]


def test_missing_model_file_is_a_clear_error(app, client, tiny_model, tmp_path):
    import shutil

    copy = tmp_path / "gone"
    copy.mkdir()
    for f in tiny_model.parent.glob("tiny.*"):
        shutil.copy(f, copy / f.name)
    register_tiny(app, copy / "tiny.pt")
    shutil.rmtree(copy)
    import io

    from tests.imagegen import encode, shapes

    response = client.post("/api/v1/predict", data={"file": (io.BytesIO(encode(shapes(2))), "a.jpg")})
    assert response.status_code == 503 and response.get_json()["error"]["code"] == "model_missing"


def test_secret_key_is_generated_once_per_instance(tmp_path, monkeypatch):
    monkeypatch.delenv("SECRET_KEY", raising=False)
    monkeypatch.delenv("ANIMALS_SECRET_KEY", raising=False)
    first = create_app({"INSTANCE_PATH": str(tmp_path)}).config["SECRET_KEY"]
    second = create_app({"INSTANCE_PATH": str(tmp_path)}).config["SECRET_KEY"]
    assert first == second and len(first) == 64 and first != "dev-only-change-me"
    assert (tmp_path / "secret_key").read_text() == first
