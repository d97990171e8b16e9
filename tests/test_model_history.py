"""Activation history: every way of activating records one row; Roll back re-activates the model replaced."""

from __future__ import annotations

from webapp.extensions import db
from webapp.models import Activation
from webapp.registry import active_model, register_model

EN = {"Accept-Language": "en"}


def _models(app, tmp_path, *names: str) -> list[int]:
    ids = []
    with app.app_context():
        for name in names:
            path = tmp_path / name / "m.pt"
            path.parent.mkdir()
            path.write_bytes(b"weights are not read by activation")
            ids.append(register_model(path, name=name, classes=["cat", "dog"]).id)
    return ids


def _history(app) -> list[tuple]:
    with app.app_context():
        rows = db.session.execute(db.select(Activation).order_by(Activation.id)).scalars()
        return [(r.model_version_id, r.previous_id, r.user.username if r.user else None, r.via) for r in rows]


def test_admin_api_and_cli_activations_are_recorded_in_one_history(app, admin_client, runner, tmp_path):
    a, b, c = _models(app, tmp_path, "a", "b", "c")
    assert runner.invoke(args=["activate-model", str(a)]).exit_code == 0
    admin_client.post(f"/admin/models/{b}/activate")
    assert admin_client.post(f"/api/v1/models/{c}/activate").status_code == 200
    admin_client.post(f"/admin/models/{c}/activate")  # already active: nothing switches, nothing recorded
    assert _history(app) == [(a, None, None, "cli"), (b, a, "admin", "admin"), (c, b, "admin", "api")]
    listed = admin_client.get("/api/v1/models/activations").get_json()["activations"]
    assert [(x["model_id"], x["previous_id"], x["via"]) for x in listed] == [(c, b, "api"), (b, a, "admin"), (a, None, "cli")]
    failed = runner.invoke(args=["activate-model", "999"])
    assert failed.exit_code != 0 and "no model version 999" in failed.output and len(_history(app)) == 3


def test_roll_back_reactivates_the_replaced_model_and_is_recorded(app, admin_client, tmp_path):
    a, b = _models(app, tmp_path, "a", "b")
    admin_client.post(f"/admin/models/{a}/activate")
    admin_client.post(f"/admin/models/{b}/activate")
    html = admin_client.get("/admin/models", headers=EN).text
    section = html.split('id="activations"')[1]
    assert "Roll back to a" in section
    assert section.index(f'data-model-id="{b}" data-previous-id="{a}"') < section.index(f'data-model-id="{a}" data-previous-id=""')
    page = admin_client.get(f"/admin/models/{b}", headers=EN).text
    assert "Roll back to a" in page.split('id="activations"')[1]
    done = admin_client.post("/admin/models/rollback", data={"next": f"/admin/models/{b}"}, headers=EN)
    assert done.status_code == 302 and done.headers["Location"].endswith(f"/admin/models/{b}")
    with app.app_context():
        assert active_model().id == a
    assert _history(app)[-1] == (a, b, "admin", "rollback")
    assert "Rolled back: model a is active again." in admin_client.get("/admin/models", headers=EN).text


def test_nothing_to_roll_back_is_said_plainly(app, admin_client, runner, tmp_path):
    (a,) = _models(app, tmp_path, "a")
    answer = admin_client.post("/api/v1/models/rollback")
    assert answer.status_code == 409 and answer.get_json()["error"]["code"] == "nothing_to_roll_back"
    admin_client.post(f"/admin/models/{a}/activate")  # the first activation replaced nothing
    assert "Roll back to" not in admin_client.get("/admin/models", headers=EN).text
    zh = {"Accept-Language": "zh-CN"}
    admin_client.post("/admin/models/rollback", headers=zh)  # the flash is worded in the language of the request
    assert "没有可以回退到的更早模型" in admin_client.get("/admin/models", headers=zh).text
    result = runner.invoke(args=["rollback-model"])
    assert result.exit_code == 1 and "no earlier model" in result.output
    with app.app_context():
        assert active_model().id == a


def test_api_rollback_and_cli_rollback(app, admin_client, runner, tmp_path):
    a, b = _models(app, tmp_path, "a", "b")
    runner.invoke(args=["activate-model", str(a)])
    runner.invoke(args=["activate-model", str(b)])
    assert admin_client.post("/api/v1/models/rollback").get_json()["model"]["id"] == a
    assert runner.invoke(args=["rollback-model"]).exit_code == 0  # back again: the last switch replaced b
    with app.app_context():
        assert active_model().id == b
    assert [row[3] for row in _history(app)] == ["cli", "cli", "rollback", "rollback"]
    anonymous = app.test_client()
    assert anonymous.get("/api/v1/models/activations").status_code == 401
    assert anonymous.post("/api/v1/models/rollback").status_code in (400, 401)  # CSRF first, or login
    assert len(_history(app)) == 4
