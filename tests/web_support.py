"""Helpers for web/job tests: run a real RQ worker (in-process or as a subprocess), wait for a job, tiny jobs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from rq import SimpleWorker
from rq.serializers import JSONSerializer

ROOT = Path(__file__).resolve().parent.parent


def run_worker(app) -> None:
    """Run every queued job now with a real RQ worker in this process (burst mode)."""
    from webapp.redis_conn import all_queues, get_redis

    with app.app_context():
        SimpleWorker(all_queues(), connection=get_redis(), serializer=JSONSerializer).work(burst=True, with_scheduler=False)


def worker_env(app, **extra: str) -> dict[str, str]:
    """Environment that makes a subprocess (`flask worker`, gunicorn) use this app's DB, Redis and folders."""
    c = app.config
    env = dict(os.environ, PYTHONUNBUFFERED="1", REDIS_URL=c["REDIS_URL"],
               ANIMALS_SQLALCHEMY_DATABASE_URI=c["SQLALCHEMY_DATABASE_URI"], ANIMALS_DATA_DIR=c["DATA_DIR"],
               ANIMALS_MODEL_DIR=c["MODEL_DIR"], ANIMALS_QUEUE_PREFIX=c["QUEUE_PREFIX"],
               ANIMALS_JOB_HEARTBEAT_TTL=str(c["JOB_HEARTBEAT_TTL"]), ANIMALS_DEFAULT_MODEL=c["DEFAULT_MODEL"],
               ANIMALS_CRAWL_BASE_URL=c["CRAWL_BASE_URL"])
    options = c["SQLALCHEMY_ENGINE_OPTIONS"].get("connect_args", {}).get("options")
    if options:  # a PostgreSQL test schema
        env["ANIMALS_SQLALCHEMY_ENGINE_OPTIONS"] = json.dumps({"connect_args": {"options": options}})
    env["ANIMALS_CRAWL_OPTIONS"] = json.dumps(c["CRAWL_OPTIONS"])
    env.pop("DATABASE_URL", None)
    env.update(extra)
    return env


def start_worker_process(app, *args: str, **extra: str) -> subprocess.Popen:
    """Start `flask worker` as a real separate process (its own process group, so it can be killed whole)."""
    return subprocess.Popen([sys.executable, "-m", "flask", "--app", "wsgi", "worker", *args], cwd=ROOT,
                            env=worker_env(app, **extra), start_new_session=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now (for a server a test starts)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until_up(base: str, path: str = "/healthz", timeout: float = 60, **request_options) -> None:
    """Wait until GET base+path answers 200 (a server a test started), or fail after `timeout` seconds."""
    import requests

    def up() -> bool:
        try:
            return requests.get(base + path, timeout=3, **request_options).status_code == 200
        except requests.RequestException:
            return False

    wait_for(up, timeout=timeout, every=0.5, what=f"{base}{path} to answer")


def wait_for(predicate, timeout: float = 60, every: float = 0.2, what: str = "condition"):
    """Poll `predicate()` until it returns something truthy; return it, or fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def job_row(app, job_id: str) -> dict:
    """The job's row as a dict, read fresh from the database."""
    from webapp.extensions import db
    from webapp.models import Job

    with app.app_context():
        db.session.expire_all()
        return db.session.get(Job, job_id).as_dict()


def job_state(app, job_id: str) -> dict:
    """The job as the admin pages and the API show it: reconciled with RQ, live progress from its job.meta."""
    from webapp import tasks
    from webapp.extensions import db

    with app.app_context():
        db.session.expire_all()
        return tasks.get_job(job_id).as_dict()


def slow_job(steps: int = 600, delay: float = 0.05) -> dict:
    """A job that reports progress for a while (for cancel and kill tests); RQ path "tests.web_support.slow_job"."""
    from jobs.runner import run_job
    from ml.progress import check_stop, report

    def body(ctx):
        for i in range(steps):
            check_stop(ctx.should_stop)
            report(ctx.on_progress, "waiting", i + 1, steps)
            time.sleep(delay)
        return {"steps": steps}

    return run_job(body)


def enqueue_raw(app, func: str, kwargs: dict, queue: str = "crawl", kind: str = "split") -> str:
    """Enqueue any function by dotted path with a job row of its own (for test-only jobs); return the id."""
    import uuid

    from webapp.extensions import db
    from webapp.models import Job
    from webapp.redis_conn import get_queue
    from webapp.tasks import JOB_META

    with app.app_context():
        q = get_queue(queue)
        row = Job(id=uuid.uuid4().hex, kind=kind, queue=q.name, params=kwargs, status="queued", log="")
        db.session.add(row)
        db.session.commit()
        q.enqueue(func, kwargs=kwargs, job_id=row.id, job_timeout=600, meta=dict(JOB_META))
        return row.id
