"""`make run`'s launcher: one command brings up migrations, embedded Redis, a worker and gunicorn; Ctrl-C stops all."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys

import pytest
import requests

from tests.web_support import ROOT, wait_for

pytestmark = pytest.mark.timeout(180)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_launcher_starts_everything_and_ctrl_c_stops_everything(tmp_path):
    import psutil
    import redis
    from rq import Worker

    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DATABASE_URL")}
    env.update(ANIMALS_INSTANCE_PATH=str(tmp_path), ANIMALS_DEFAULT_MODEL=str(tmp_path / "none.pt"), PYTHONUNBUFFERED="1")
    proc = subprocess.Popen([sys.executable, "-m", "webapp.launch", "--port", str(port)], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        def ready():
            try:
                return requests.get(base + "/readyz", timeout=3).json()
            except requests.RequestException:
                return None

        assert wait_for(ready, timeout=90, every=0.5, what="the site") == {"status": "not_ready"}  # public: status only
        assert (tmp_path / "animals.sqlite3").is_file()  # migrations applied
        conn = redis.Redis(unix_socket_path=str(tmp_path / "redis.socket"))
        workers = wait_for(lambda: Worker.all(connection=conn), timeout=60, what="the RQ worker")
        assert {q for w in workers for q in w.queue_names()} == {"crawl", "train"}
        children = psutil.Process(proc.pid).children(recursive=True)
        redis_pids = [p.pid for p in psutil.process_iter(["cmdline"])
                      if "redis-server" in " ".join(p.info["cmdline"] or []) and str(tmp_path) in " ".join(p.info["cmdline"] or [])]
        assert redis_pids
    finally:
        proc.send_signal(signal.SIGINT)  # what Ctrl-C does
        output = proc.communicate(timeout=60)[0]
    assert proc.returncode == 0, output[-3000:]
    assert f"open http://127.0.0.1:{port}/" in output
    # What was not ready went to the log: database and Redis fine, no model in this instance.
    assert "not ready: model: no_model" in output and "database:" not in output.split("not ready:")[1].split("\n")[0]
    for child in children:
        assert not child.is_running() or child.status() == psutil.STATUS_ZOMBIE, child
    wait_for(lambda: not any(psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
                             for pid in redis_pids), timeout=10, what="Redis to stop")



@pytest.mark.parametrize(("database", "redis_url", "expected"), [
    ("sqlite", "redis://:sekret@127.0.0.1:1/0", "==> cannot start: Redis does not answer at redis://:***@127.0.0.1:1/0"),
    ("postgresql://bob:sekret@127.0.0.1:1/animals", "redis://:sekret@127.0.0.1:1/0",
     "==> database: postgresql+psycopg://bob:***@127.0.0.1:1/animals"),
])
def test_launcher_never_prints_passwords(tmp_path, database, redis_url, expected):
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DATABASE_URL")}
    env.update(ANIMALS_INSTANCE_PATH=str(tmp_path), REDIS_URL=redis_url, ANIMALS_DEFAULT_MODEL=str(tmp_path / "none.pt"),
               DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}" if database == "sqlite" else database)
    out = subprocess.run([sys.executable, "-m", "webapp.launch", "--port", str(_free_port())], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=120)
    text = out.stdout + out.stderr
    assert out.returncode == 1, text[-2000:]
    assert expected in text and "==> cannot start:" in text
    assert "sekret" not in text and "Traceback" not in text
