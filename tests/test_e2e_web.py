"""End to end over real HTTP: an admin logs in, crawls two classes from the fake Baidu, splits, trains a
tiny model, activates it, and a public upload is answered by it.

Twice when the machine allows: (1) what `make run` runs: gunicorn, SQLite, the embedded Redis and one
`flask worker`; (2) production: gunicorn with PostgreSQL and the machine's Redis (REDIS_URL) and two
plain `rq worker` processes.
"""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import requests

from tests.conftest import ADMIN_PASSWORD, TINY_TRAIN, create_admin, machine_redis_url, make_app, postgres_url
from tests.fakebaidu import start_fake_baidu
from tests.imagegen import encode, shapes
from tests.web_support import ROOT, wait_for, worker_env

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _stop(proc: subprocess.Popen) -> str:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
    return proc.stdout.read() if proc.stdout else ""


@pytest.fixture(params=["make-run", "production"])
def stack(request, tmp_path, embedded_redis):
    """A running site (gunicorn) and its workers; yields the base URL and the app (for its config)."""
    fake = start_fake_baidu(total=40)
    options = {"CRAWL_BASE_URL": fake.base_url,
               "CRAWL_OPTIONS": {"page_delay": 0, "backoff": 0.01, "workers": 4, "allow_networks": ["127.0.0.0/8"]}}
    procs: list[subprocess.Popen] = []
    schema = None
    if request.param == "make-run":
        app = make_app(tmp_path, redis=embedded_redis, **options)
        env = worker_env(app)
        procs.append(subprocess.Popen([sys.executable, "-m", "flask", "--app", "wsgi", "worker"], cwd=ROOT, env=env,
                                      stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
    else:
        redis_url, pg = machine_redis_url(), postgres_url()
        if not (redis_url and pg):
            fake.stop()
            pytest.skip("needs REDIS_URL and PostgreSQL")
        import psycopg

        schema = f"e2e_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(pg.replace("+psycopg", ""), autocommit=True) as conn:
            conn.execute(f'CREATE SCHEMA "{schema}"')
        app = make_app(tmp_path, database_url=pg, redis=redis_url, **options,
                       engine_options={"connect_args": {"options": f"-csearch_path={schema}"}})
        env = worker_env(app)
        prefix = app.config["QUEUE_PREFIX"]
        for _ in range(2):
            procs.append(subprocess.Popen(
                [str(Path(sys.executable).parent / "rq"), "worker", "--url", redis_url, "--serializer",
                 "rq.serializers.JSONSerializer", f"{prefix}crawl", f"{prefix}train"],
                cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
    create_admin(app)
    port = _free_port()
    web = subprocess.Popen([sys.executable, "-m", "gunicorn", "-c", str(ROOT / "gunicorn.conf.py"), "--bind",
                            f"127.0.0.1:{port}", "--workers", "2", "--threads", "2", "wsgi:app"],
                           cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    procs.append(web)
    base = f"http://127.0.0.1:{port}"

    def up():
        try:
            return requests.get(base + "/healthz", timeout=2).ok
        except requests.RequestException:
            return False

    try:
        wait_for(up, timeout=60, what="gunicorn to answer")
        yield base, app
    finally:
        logs = [_stop(p) for p in procs]
        fake.stop()
        if schema:
            import psycopg

            with psycopg.connect(postgres_url().replace("+psycopg", ""), autocommit=True) as conn:
                conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
        print("\n".join(logs)[-6000:])  # shown by pytest only when the test failed


def _token(html: str) -> str:
    return re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html).group(1)


def _wait_job(admin: requests.Session, base: str, job_id: str, timeout: float) -> dict:
    def finished():
        job = admin.get(f"{base}/api/v1/jobs/{job_id}", headers={"Accept": "application/json"}).json()["job"]
        return job if job["status"] not in ("queued", "running") else None

    job = wait_for(finished, timeout=timeout, every=0.5, what=f"job {job_id}")
    assert job["status"] == "finished", job
    return job


def test_admin_builds_a_model_in_the_browser_flow_and_the_public_page_uses_it(stack):
    base, app = stack
    admin = requests.Session()
    admin.headers["Accept-Language"] = "en"
    token = _token(admin.get(f"{base}/admin/login").text)
    response = admin.post(f"{base}/admin/login", data={"username": "admin", "password": ADMIN_PASSWORD,
                                                        "csrf_token": token})
    assert response.url.endswith("/admin/") and response.ok
    token = _token(response.text)

    # Crawl two classes through the dashboard form (what the admin's browser posts).
    crawl_ids = []
    for keyword, cls in (("猫", "猫"), ("狗", "dog")):
        before = {j["id"] for j in admin.get(f"{base}/api/v1/jobs").json()["jobs"]}
        admin.post(f"{base}/admin/jobs/start/crawl", data={"csrf_token": token, "dataset": "zoo", "keywords": keyword,
                                                           "class_name": cls, "count": 12})
        new = [j["id"] for j in admin.get(f"{base}/api/v1/jobs").json()["jobs"] if j["id"] not in before]
        assert len(new) == 1
        crawl_ids.append(new[0])
    for job_id in crawl_ids:
        job = _wait_job(admin, base, job_id, 120)
        assert job["result"]["downloaded"] >= 4, job["result"]

    headers = {"X-CSRFToken": token}
    split = admin.post(f"{base}/api/v1/jobs", json={"kind": "split", "params": {"dataset": "zoo", "test": 0.25}},
                       headers=headers)
    assert split.status_code == 202, split.text
    _wait_job(admin, base, split.json()["job"]["id"], 120)

    train = admin.post(f"{base}/api/v1/jobs", json={"kind": "train", "params": {"dataset": "zoo", **TINY_TRAIN}},
                       headers=headers)
    job = _wait_job(admin, base, train.json()["job"]["id"], 300)
    model_id = job["result"]["model_id"]

    public = requests.Session()
    picture = {"file": ("cat.jpg", encode(shapes(5)), "image/jpeg")}
    assert public.post(f"{base}/api/v1/predict", files=picture).json()["error"]["code"] == "no_model"

    response = admin.post(f"{base}/admin/models/{model_id}/activate", data={"csrf_token": token})
    assert response.ok and f'data-model-id="{model_id}" data-active="true"' in response.text

    answer = public.post(f"{base}/api/v1/predict", files=picture)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["model"]["id"] == model_id and body["model"]["backend"] == "onnx"
    assert {p["label"] for p in body["predictions"]} == {"猫", "dog"}
    ready = requests.get(f"{base}/readyz").json()
    assert ready["status"] == "ready", ready
