"""Abuse and secrets: login throttling, proxy hops, shared limiter storage, cookie flags, CSP, readyz, log masking."""

from __future__ import annotations

import io
import logging
import re
import time
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from html.parser import HTMLParser

import pytest

from tests.conftest import ADMIN_PASSWORD, csrf_token_from, login, make_app, register_tiny
from webapp.config import ConfigError


def _attempt(client, username: str, password: str, addr: str = "127.0.0.1", lang: str = "en"):
    token = csrf_token_from(client.get("/admin/login").get_data(as_text=True))
    return client.post("/admin/login", data={"username": username, "password": password, "csrf_token": token},
                       environ_base={"REMOTE_ADDR": addr}, headers={"Accept-Language": lang})


@pytest.fixture
def throttled(tmp_path, embedded_redis):
    app = make_app(tmp_path, redis=embedded_redis, RATELIMIT_ENABLED=True, RATELIMIT_LOGIN_USER="3 per minute",
                   RATELIMIT_LOGIN_IP="5 per minute")
    from tests.conftest import create_admin

    create_admin(app)
    return app


def test_failed_logins_are_throttled_per_user_name_from_any_address(throttled):
    client = throttled.test_client()
    codes = [_attempt(client, "admin", "wrong", addr=f"10.0.0.{i}").status_code for i in range(3)]
    assert codes == [401, 401, 401]
    refused = _attempt(client, "admin", ADMIN_PASSWORD, addr="10.0.0.9")  # even the right password now waits
    assert refused.status_code == 429
    assert "Too many failed logins for this user name or from this address" in refused.get_data(as_text=True)
    chinese = _attempt(client, "Admin ", "wrong", addr="10.0.0.10", lang="zh-CN")  # same name, other spelling
    assert chinese.status_code == 429 and "登录失败的次数太多" in chinese.get_data(as_text=True)


def test_failed_logins_are_throttled_per_address_for_any_name(throttled):
    client = throttled.test_client()
    assert [_attempt(client, f"user{i}", "wrong", addr="10.9.9.9").status_code for i in range(5)] == [401] * 5
    assert _attempt(client, "someone-new", "wrong", addr="10.9.9.9").status_code == 429
    assert _attempt(client, "someone-new", "wrong", addr="10.9.9.8").status_code == 401  # another address is fine


def test_successful_logins_do_not_count(throttled):
    for _ in range(5):
        client = throttled.test_client()
        assert _attempt(client, "admin", ADMIN_PASSWORD).status_code == 302


def test_throttled_api_style_login_answers_json(throttled):
    client = throttled.test_client()
    for i in range(3):
        _attempt(client, "admin", "wrong", addr=f"10.1.0.{i}")
    token = csrf_token_from(client.get("/admin/login").get_data(as_text=True))
    response = client.post("/admin/login", data={"username": "admin", "password": "x", "csrf_token": token},
                           headers={"Accept": "application/json"})
    assert response.status_code == 429 and response.get_json()["error"]["code"] == "login_throttled"


def test_unknown_user_names_cost_as_much_as_wrong_passwords(app, admin_user):
    from webapp.auth import authenticate

    def median_seconds(name: str) -> float:
        times = []
        with app.app_context():
            for _ in range(5):
                started = time.perf_counter()
                assert authenticate(name, "wrong-password") is None
                times.append(time.perf_counter() - started)
        return sorted(times)[2]

    known, unknown = median_seconds("admin"), median_seconds("nobody-has-this-name")
    assert known > 0.005  # a real password hash is slow on purpose
    assert unknown > 0.5 * known, (known, unknown)


@pytest.mark.parametrize(("hops", "shared"), [(0, True), (1, False)])
def test_client_addresses_come_from_trusted_proxies_only(tmp_path, embedded_redis, hops, shared):
    app = make_app(tmp_path, redis=embedded_redis, RATELIMIT_ENABLED=True, RATELIMIT_PREDICT="2 per minute",
                   TRUSTED_PROXIES=hops)

    def post(client_ip: str) -> int:
        return app.test_client().post("/api/v1/predict", data={"file": (io.BytesIO(b""), "a.jpg")},
                                      headers={"X-Forwarded-For": client_ip}).status_code

    assert [post("203.0.113.1"), post("203.0.113.1")] == [400, 400]
    # Behind one trusted proxy another client has its own bucket; with none, X-Forwarded-For is ignored.
    assert post("203.0.113.2") == (429 if shared else 400)


@pytest.mark.parametrize("proxies", ["nginx", -1, 1.5, True])
def test_bad_trusted_proxies_are_refused(tmp_path, embedded_redis, proxies):
    with pytest.raises(ConfigError, match="TRUSTED_PROXIES must be the number of proxies in front of the app"):
        make_app(tmp_path, redis=embedded_redis, TRUSTED_PROXIES=proxies)


def test_a_too_long_remember_duration_is_refused(tmp_path, embedded_redis):
    with pytest.raises(ConfigError, match="REMEMBER_COOKIE_DURATION"):
        make_app(tmp_path, redis=embedded_redis, REMEMBER_COOKIE_DURATION=365 * 24 * 3600)


def test_rate_limits_are_shared_through_redis(tmp_path, embedded_redis):
    # Two apps on one Redis stand for two gunicorn workers (or machines): one bucket for both.
    first = make_app(tmp_path, redis=embedded_redis, RATELIMIT_ENABLED=True, RATELIMIT_PREDICT="2 per minute")
    second = make_app(tmp_path, redis=embedded_redis, RATELIMIT_ENABLED=True, RATELIMIT_PREDICT="2 per minute",
                      QUEUE_PREFIX=first.config["QUEUE_PREFIX"])
    assert first.config["RATELIMIT_STORAGE_URI"] == "redis+" + embedded_redis

    def post(app) -> int:
        return app.test_client().post("/api/v1/predict", data={"file": (io.BytesIO(b""), "a.jpg")}).status_code

    assert [post(first), post(second), post(first)] == [400, 400, 429]
    import redis

    keys = redis.Redis.from_url(embedded_redis).keys(f"*{first.config['QUEUE_PREFIX']}ip:*")
    assert keys, "the counters live in Redis"
    alone = make_app(tmp_path, redis=None, RATELIMIT_ENABLED=True)
    assert alone.config["RATELIMIT_STORAGE_URI"] == "memory://"  # no REDIS_URL: per process


def _cookies(response) -> dict[str, str]:
    return {h.split("=", 1)[0]: h for h in response.headers.getlist("Set-Cookie")}


@pytest.mark.parametrize("https", [False, True])
def test_session_and_remember_cookies_are_flagged(tmp_path, embedded_redis, https):
    app = make_app(tmp_path, redis=embedded_redis, HTTPS_ONLY=https)
    from tests.conftest import create_admin

    create_admin(app)
    client, base = app.test_client(), f"{'https' if https else 'http'}://localhost"
    token = csrf_token_from(client.get("/admin/login", base_url=base).get_data(as_text=True))
    # Over HTTPS Flask-WTF also wants the Referer a browser sends.
    response = client.post("/admin/login", base_url=base, headers={"Referer": base + "/admin/login"},
                           data={"username": "admin", "password": ADMIN_PASSWORD, "remember": "1", "csrf_token": token})
    assert response.status_code == 302
    cookies = _cookies(response)
    for name in ("session", "remember_token"):
        header = cookies[name]
        assert "HttpOnly" in header and "SameSite=Lax" in header, header
        assert ("Secure" in header) is https, header
    expires = parsedate_to_datetime(re.search(r"Expires=([^;]+)", cookies["remember_token"]).group(1))
    days = (expires - datetime.now(UTC)).total_seconds() / 86400
    assert 13 < days <= 14.01  # bounded: two weeks, not Flask-Login's default year


def _pages(app, admin_client):
    from pathlib import Path

    from tests.imagegen import make_dataset

    make_dataset(Path(app.config["DATA_DIR"]) / "pets", {"cat": 2})
    job = admin_client.post("/api/v1/jobs", json={"kind": "split", "params": {"dataset": "pets"}}).get_json()["job"]
    return [f"/admin/jobs/{job['id']}", "/", "/admin/", "/admin/models", "/datasets/", "/datasets/pets/", "/datasets/pets/classes/cat/",
            "/datasets/pets/images/cat/0000.jpg", "/admin/login"]


class _ScriptCheck(HTMLParser):
    def __init__(self):
        super().__init__()
        self.inline_nonces: list[str | None] = []
        self.handlers: list[str] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.handlers += [f"{tag} {name}" for name in attrs if name.startswith("on")]
        if tag == "script" and "src" not in attrs and attrs.get("type") != "application/json":
            self.inline_nonces.append(attrs.get("nonce"))


def test_pages_send_a_csp_their_own_scripts_satisfy(app, admin_client):
    for url in _pages(app, admin_client):
        response = admin_client.get(url)
        assert response.status_code == 200, url
        csp = response.headers["Content-Security-Policy"]
        assert "frame-ancestors 'none'" in csp and "object-src 'none'" in csp and "'unsafe-inline'" not in csp.split(
            "style-src-attr")[0]
        nonce = re.search(r"'nonce-([^']+)'", csp).group(1)
        check = _ScriptCheck()
        check.feed(response.get_data(as_text=True))
        assert check.handlers == [], (url, check.handlers)  # inline handlers would be blocked
        assert all(n == nonce for n in check.inline_nonces), (url, check.inline_nonces)
        assert response.headers["X-Frame-Options"] == "DENY"
        assert "Strict-Transport-Security" not in response.headers


def test_the_nonce_changes_per_request_and_hsts_comes_with_https(tmp_path, embedded_redis, client):
    first, second = (client.get("/").headers["Content-Security-Policy"] for _ in range(2))
    assert first != second
    app = make_app(tmp_path, redis=embedded_redis, HTTPS_ONLY=True)
    assert app.test_client().get("/").headers["Strict-Transport-Security"].startswith("max-age=")


def test_readyz_tells_the_public_only_the_status(tmp_path, caplog, monkeypatch):
    # An in-process `flask db upgrade` earlier in the session (alembic's fileConfig) disables existing loggers.
    monkeypatch.setattr(logging.getLogger("webapp.health"), "disabled", False)
    app = make_app(tmp_path, redis="redis://:sekret@127.0.0.1:1/0")
    with caplog.at_level(logging.WARNING):
        response = app.test_client().get("/readyz")
    assert response.status_code == 503 and response.get_json() == {"status": "not_ready"}
    assert "sekret" not in response.get_data(as_text=True)
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "redis: redis_unavailable" in logged and "redis://:***@127.0.0.1:1/0" in logged and "sekret" not in logged


def test_readyz_gives_administrators_the_details(tmp_path, embedded_redis):
    app = make_app(tmp_path, redis=embedded_redis)
    from tests.conftest import create_admin

    create_admin(app)
    client = app.test_client()
    login(client)
    checks = client.get("/readyz").get_json()["checks"]
    assert checks["database"]["ok"] and checks["redis"]["ok"] and checks["model"]["code"] == "no_model"


def test_url_passwords_are_masked():
    from webapp.logmask import mask_url

    assert mask_url("redis://:s3cret@10.0.0.5:6379/0") == "redis://:***@10.0.0.5:6379/0"
    assert mask_url("rediss://animals:s3cret@redis.internal/1") == "rediss://animals:***@redis.internal/1"
    assert mask_url("redis://h:6379/0?password=s3cret&db=1") == "redis://h:6379/0?password=***&db=1"
    assert mask_url("postgresql+psycopg://bob:p@ss@db/x") == "postgresql+psycopg://bob:***@db/x"
    assert mask_url("unix:///srv/redis.socket") == "unix:///srv/redis.socket"
    assert mask_url("http://host:8080/a@b") == "http://host:8080/a@b"  # a port is not a password


def test_passwords_are_masked_in_every_log_line(app, caplog):
    log = logging.getLogger("anything.at.all")
    with caplog.at_level(logging.INFO):
        log.info("connecting to %s", "postgresql+psycopg://bob:hunter2@db:5432/animals")
        try:
            raise RuntimeError("cannot reach redis://:hunter2@cache:6379/0")
        except RuntimeError:
            log.exception("failed")
    handler = logging.StreamHandler(io.StringIO())
    for record in caplog.records:
        handler.handle(record)
    text = handler.stream.getvalue()
    assert "hunter2" not in text and "bob:***@db" in text and "redis://:***@cache" in text


def test_public_model_listing_shows_whitelisted_fields_only(app, client, admin_client, tiny_model):
    model_id = register_tiny(app, tiny_model)
    from webapp.extensions import db
    from webapp.models import ModelVersion

    with app.app_context():
        row = db.session.get(ModelVersion, model_id)
        row.metrics = {**(row.metrics or {}), "dataset": "/srv/secret/datasets/pets",
                       "misclassified": [{"file": "cat/0001.jpg"}], "files": {"metrics": "/srv/models/x.json"},
                       "per_class": {"cat": {"precision": 1.0, "recall": 1.0, "f1": 1.0, "support": 3, "files": ["a"]}}}
        db.session.commit()
    public = client.get("/api/v1/models").get_json()["models"][0]
    text = str(public)
    assert "/srv" not in text and "misclassified" not in text and "cat/0001.jpg" not in text and "files" not in text
    assert set(public) == {"id", "name", "arch", "classes", "accuracy", "metrics", "active", "created_at", "activated_at"}
    assert public["metrics"]["per_class"]["cat"]["precision"] == 1.0
    full = admin_client.get("/api/v1/models").get_json()["models"][0]
    assert full["metrics"]["dataset"] == "/srv/secret/datasets/pets"  # administrators see everything
