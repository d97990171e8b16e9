"""The application factory and its liveness endpoint."""

from webapp import create_app


def test_config_override_wins(tmp_path):
    app = create_app({"TESTING": True, "DATA_DIR": str(tmp_path / "d")})
    assert app.testing
    assert app.config["DATA_DIR"] == str(tmp_path / "d")


def test_relative_folders_live_in_instance(app):
    app2 = create_app({"TESTING": True})
    assert app2.config["MODEL_DIR"].startswith(app2.instance_path)


def test_env_prefix_is_read(monkeypatch):
    monkeypatch.setenv("ANIMALS_SECRET_KEY", "from-env")
    assert create_app().config["SECRET_KEY"] == "from-env"


def test_healthz_answers_json(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}


def test_unknown_api_path_is_json_404(client):
    response = client.get("/api/nothing-here")
    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "not_found"
