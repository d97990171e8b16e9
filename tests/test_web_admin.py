"""Admin panel: login, CSRF on every form, anonymous users refused everywhere, job forms, activation, CLI."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.conftest import ADMIN_PASSWORD, csrf_token_from, login, register_tiny
from webapp.extensions import db
from webapp.models import Job


@pytest.fixture
def client(app):
    """A browser that asks for English pages (the app's default language is Chinese)."""
    client = app.test_client()
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    return client


@pytest.fixture
def admin_client(admin_client):
    admin_client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    return admin_client


def _admin_urls(app):
    for rule in app.url_map.iter_rules():
        if rule.endpoint.startswith("admin.") and rule.endpoint != "admin.login":
            url = re.sub(r"<int:\w+>", "1", rule.rule)
            url = re.sub(r"<(?:\w+:)?\w+>", "abc", url)
            for method in rule.methods - {"HEAD", "OPTIONS"}:
                yield method, url


def test_every_admin_route_refuses_anonymous_users(app, client):
    urls = list(_admin_urls(app))
    assert len(urls) >= 9
    for method, url in urls:
        if method == "GET":
            response = client.get(url)
            assert response.status_code == 302 and "/admin/login" in response.location, url
            api_style = client.get(url, headers={"Accept": "application/json"})
            assert api_style.status_code == 401 and api_style.get_json()["error"]["code"] == "unauthorized"
        else:
            token = csrf_token_from(client.get("/admin/login").get_data(as_text=True))
            response = client.post(url, data={"csrf_token": token})
            assert response.status_code == 302 and "/admin/login" in response.location, url
    with app.app_context():
        assert db.session.execute(db.select(Job)).first() is None


def test_login_with_wrong_password_is_refused(app, client, admin_user):
    response = login(client, password="wrong-password")
    assert response.status_code == 401
    assert "Wrong user name or password" in response.get_data(as_text=True)
    assert client.get("/admin/").status_code == 302


def test_login_then_logout(app, client, admin_user):
    response = login(client)
    assert response.status_code == 302 and response.location.endswith("/admin/")
    assert client.get("/admin/").status_code == 200
    token = csrf_token_from(client.get("/admin/").get_data(as_text=True))
    client.post("/admin/logout", data={"csrf_token": token})
    assert client.get("/admin/").status_code == 302


def test_login_never_redirects_off_site(client, admin_user):
    token = csrf_token_from(client.get("/admin/login").get_data(as_text=True))
    response = client.post("/admin/login?next=https://evil.example/x",
                           data={"username": "admin", "password": ADMIN_PASSWORD, "csrf_token": token})
    assert response.location.endswith("/admin/")


def test_forms_without_csrf_token_are_refused(client, admin_user, admin_client):
    response = client.post("/admin/login", data={"username": "admin", "password": ADMIN_PASSWORD})
    assert response.status_code == 400 and 'data-code="csrf_failed"' in response.get_data(as_text=True)
    admin_client.csrf_token = None
    response = admin_client.post("/admin/jobs/start/split", data={"dataset": "pets"})
    assert response.status_code == 400


def test_dashboard_starts_jobs_from_forms(app, admin_client):
    page = admin_client.get("/admin/").get_data(as_text=True)
    for form in ("form-crawl", "form-split", "form-train", "form-evaluate"):
        assert f'id="{form}"' in page
    assert page.count('name="csrf_token"') >= 5
    for arch in ("resnet18", "efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2"):
        assert f'<option value="{arch}"' in page
    assert 'id="train-device" name="device"' in page and 'id="evaluate-device" name="device"' in page
    assert '<option value="cuda">' in page and '<option value="auto" selected>' in page
    # Every label points at its own input: ids are unique on the page, and each label's target exists once.
    ids = re.findall(r'\bid="([^"]+)"', page)
    assert len(ids) == len(set(ids)), sorted(i for i in ids if ids.count(i) > 1)
    for target in re.findall(r'<label for="([^"]+)"', page):
        assert ids.count(target) == 1, target
    for form in ("crawl", "split", "train", "evaluate"):
        assert f'<label for="{form}-dataset">' in page
    Path(app.config["DATA_DIR"], "pets").mkdir(parents=True)
    response = admin_client.post("/admin/jobs/start/split", data={"dataset": "pets", "test": "0.25"},
                                 follow_redirects=True)
    assert response.status_code == 200
    with app.app_context():
        job = db.session.execute(db.select(Job)).scalar_one()
        assert job.kind == "split" and job.params["test"] == 0.25 and job.created_by.username == "admin"
    page = response.get_data(as_text=True)
    assert f'data-job-id="{job.id}"' in page and 'role="progressbar"' in page
    assert admin_client.get(f"/admin/jobs/{job.id}").status_code == 200


def test_bad_form_values_are_flashed_not_crashed(app, admin_client):
    response = admin_client.post("/admin/jobs/start/split", data={"dataset": "../../etc"}, follow_redirects=True)
    assert response.status_code == 200 and "not a valid name" in response.get_data(as_text=True)
    response = admin_client.post("/admin/jobs/start/train", data={"dataset": "none-such"}, follow_redirects=True)
    assert "There is no dataset named" in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.execute(db.select(Job)).first() is None


def test_cancel_and_retry_from_the_page(app, admin_client):
    Path(app.config["DATA_DIR"], "pets").mkdir(parents=True)
    admin_client.post("/admin/jobs/start/split", data={"dataset": "pets"})
    with app.app_context():
        job_id = db.session.execute(db.select(Job.id)).scalar_one()
    admin_client.post(f"/admin/jobs/{job_id}/cancel")
    admin_client.post(f"/admin/jobs/{job_id}/retry")
    with app.app_context():
        rows = {j.id: j for j in db.session.execute(db.select(Job)).scalars()}
        assert rows[job_id].status == "cancelled"
        assert [j.retry_of for j in rows.values() if j.id != job_id] == [job_id]


def test_models_page_activates_a_model(app, admin_client, tiny_model, tmp_path):
    import shutil

    first = register_tiny(app, tiny_model)
    (tmp_path / "b").mkdir()
    for f in tiny_model.parent.glob("tiny.*"):
        shutil.copy(f, tmp_path / "b" / f.name)
    second = register_tiny(app, tmp_path / "b" / "tiny.pt", activate=False, name="second")
    page = admin_client.get("/admin/models").get_data(as_text=True)
    assert f'data-model-id="{first}" data-active="true"' in page and "Per-class metrics" in page
    admin_client.post(f"/admin/models/{second}/activate")
    page = admin_client.get("/admin/models").get_data(as_text=True)
    assert f'data-model-id="{second}" data-active="true"' in page
    assert f'data-model-id="{first}" data-active="false"' in page


def test_admin_pages_speak_chinese(admin_client):
    page = admin_client.get("/admin/", headers={"Accept-Language": "zh-CN,zh;q=0.9"}).get_data(as_text=True)
    assert "启动任务" in page and "训练模型" in page


def test_queue_status_shows_no_worker_warning(admin_client):
    page = admin_client.get("/admin/").get_data(as_text=True)
    assert "No worker is running" in page
    status = admin_client.get("/api/v1/queues").get_json()
    assert [q["name"].split(":")[-1] for q in status["queues"]] == ["crawl", "train"]


def test_create_admin_command(runner, app):
    result = runner.invoke(args=["create-admin", "boss", "--password", "long-enough-pw"])
    assert result.exit_code == 0 and "created" in result.output
    result = runner.invoke(args=["create-admin", "boss", "--password", "long-enough-pw"])
    assert result.exit_code == 1 and "already exists" in result.output
    result = runner.invoke(args=["create-admin", "kid", "--password", "short"])
    assert result.exit_code == 1 and "too short" in result.output
    from webapp.models import User

    with app.app_context():
        user = db.session.execute(db.select(User).filter_by(username="boss")).scalar_one()
        assert user.password_hash != "long-enough-pw" and user.check_password("long-enough-pw")


@pytest.mark.parametrize("queues", ["crawl,bake"])
def test_worker_command_refuses_unknown_queues(runner, queues):
    result = runner.invoke(args=["worker", "--queues", queues, "--burst"])
    assert result.exit_code == 1 and "Unknown queue" in result.output


def test_models_page_shows_out_of_source_accuracy_before_in_source(app, admin_client, tiny_model, tmp_path):
    import json
    import shutil

    folder = tmp_path / "m"
    folder.mkdir()
    for f in tiny_model.parent.glob("tiny.*"):
        shutil.copy(f, folder / f.name)
    (folder / "tiny.elsewhere.out_of_source.metrics.json").write_text(
        json.dumps({"accuracy": 0.912, "count": 87, "kind": "out_of_source"}), encoding="utf-8")
    register_tiny(app, folder / "tiny.pt", name="with-oos")
    page = admin_client.get("/admin/models").get_data(as_text=True)
    assert "Out-of-source accuracy" in page and "91.2%" in page and "87 photos from sources never used" in page
    assert page.index("Out-of-source accuracy") < page.index("In-source test accuracy")
    zh = admin_client.get("/admin/models", headers={"Accept-Language": "zh-CN"}).get_data(as_text=True)
    assert "其他来源照片准确率" in zh and "同源测试准确率" in zh
