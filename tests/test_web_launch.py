"""`make run`'s launcher: one command brings up migrations, embedded Redis, a worker and gunicorn; Ctrl-C stops all."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading

import pytest
import requests

from tests.web_support import ROOT, free_port, wait_for

pytestmark = pytest.mark.timeout(300)


def test_launcher_starts_everything_and_ctrl_c_stops_everything(tmp_path):
    import psutil
    import redis
    from rq import Worker

    port = free_port()
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


class LauncherOutput:
    """Collects the launcher's output lines in a thread (gunicorn's access log would fill a pipe)."""

    def __init__(self, proc: subprocess.Popen):
        self.lines: list[str] = []
        self.thread = threading.Thread(target=self._read, args=(proc,), daemon=True)
        self.thread.start()

    def _read(self, proc) -> None:
        for line in proc.stdout:
            self.lines.append(line.rstrip("\n"))

    def count(self, fragment: str) -> int:
        return sum(fragment in line for line in self.lines)

    def text(self) -> str:
        return "\n".join(self.lines)


def _worker_process(launcher_pid: int):
    """The `flask worker` child of the launcher (not its work horse)."""
    import psutil

    for child in psutil.Process(launcher_pid).children():
        if child.cmdline()[-1:] == ["worker"]:
            return child
    return None


def _kill_worker_hard(launcher_pid: int) -> int:
    """kill -9 the worker and its work horse, as the OOM killer would; return the worker's pid."""
    import psutil

    worker = wait_for(lambda: _worker_process(launcher_pid), timeout=30, what="the worker process")
    for process in [*worker.children(recursive=True), worker]:
        try:
            process.send_signal(signal.SIGKILL)
        except psutil.NoSuchProcess:
            pass
    return worker.pid


def _upload(base: str, seed: int) -> requests.Response:
    from tests.imagegen import encode, shapes

    return requests.post(base + "/api/v1/predict", files={"file": ("p.jpg", encode(shapes(seed)), "image/jpeg")},
                         timeout=30)


def test_launcher_restarts_a_killed_worker_while_the_site_keeps_answering(tmp_path, tiny_model):
    from tests.web_support import enqueue_raw, job_row
    from webapp import create_app

    port, ttl = free_port(), 3
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DATABASE_URL")}
    env.update(ANIMALS_INSTANCE_PATH=str(tmp_path), ANIMALS_DEFAULT_MODEL=str(tiny_model), PYTHONUNBUFFERED="1",
               ANIMALS_JOB_HEARTBEAT_TTL=str(ttl))
    proc = subprocess.Popen([sys.executable, "-m", "webapp.launch", "--port", str(port)], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    out = LauncherOutput(proc)
    base = f"http://127.0.0.1:{port}"
    # The test's own view of the same installation: its database, its embedded Redis.
    app = create_app({"INSTANCE_PATH": str(tmp_path), "REDIS_URL": f"unix://{tmp_path / 'redis.socket'}",
                      "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'animals.sqlite3'}",
                      "JOB_HEARTBEAT_TTL": ttl, "DEFAULT_MODEL": str(tiny_model)})
    try:
        def model_ready():
            try:
                return requests.get(base + "/readyz", timeout=3).status_code == 200
            except requests.RequestException:
                return False

        wait_for(model_ready, timeout=120, every=0.5, what="the site with its model")
        assert _upload(base, 1).status_code == 200

        # 1. Killed mid-job: the page keeps answering, a new worker starts, the job is marked lost.
        doomed = enqueue_raw(app, "tests.web_support.slow_job", {"steps": 3000, "delay": 0.02})
        wait_for(lambda: job_row(app, doomed)["status"] == "running", timeout=60, what="the job to run")
        first_pid = _kill_worker_hard(proc.pid)
        for seed in range(2, 5):
            answer = _upload(base, seed)
            assert answer.status_code == 200 and answer.json()["predictions"], answer.text
        wait_for(lambda: out.count("the worker was killed by signal 9 (SIGKILL)"), timeout=10, what="the log line")
        wait_for(lambda: out.count("the worker is running again"), timeout=30, what="the restart")
        second = wait_for(lambda: _worker_process(proc.pid), timeout=30, what="a new worker")
        assert second.pid != first_pid
        next_job = enqueue_raw(app, "tests.web_support.slow_job", {"steps": 3, "delay": 0.01})
        wait_for(lambda: job_row(app, next_job)["status"] == "finished", timeout=60, what="the next job")
        # The launcher itself marks the killed job once its heartbeat expired (nobody looked at the admin page).
        lost = wait_for(lambda: (row := job_row(app, doomed))["status"] == "failed" and row, timeout=ttl * 5,
                        what="the killed job to be marked lost")
        assert lost["error"]["code"] == "worker_lost"
        wait_for(lambda: out.count("1 job(s) whose worker died marked as failed (worker_lost)") == 1, timeout=10,
                 what="the launcher's line about the lost job")  # printed just after its commit

        # 2. Killed again (idle this time): still serving, and a third worker takes the next job.
        _kill_worker_hard(proc.pid)
        assert _upload(base, 5).status_code == 200
        wait_for(lambda: out.count("the worker is running again") >= 2, timeout=30, what="the second restart")
        last_job = enqueue_raw(app, "tests.web_support.slow_job", {"steps": 3, "delay": 0.01})
        wait_for(lambda: job_row(app, last_job)["status"] == "finished", timeout=60, what="a job after the 2nd kill")
        assert proc.poll() is None  # the launcher never stopped
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=60)
        out.thread.join(timeout=10)
        print(out.text()[-6000:])  # shown by pytest only when the test failed
        with app.app_context():
            from webapp.extensions import db

            db.engine.dispose()
    assert proc.returncode == 0, out.text()[-3000:]
    assert out.count("restarting it in 1 s") == 1 and out.count("restarting it in 2 s") == 1, out.text()[-3000:]
    assert out.count("==> stopped") == 1

@pytest.mark.parametrize(("database", "redis_url", "expected"), [
    ("sqlite", "redis://:sekret@127.0.0.1:1/0", "==> cannot start: Redis does not answer at redis://:***@127.0.0.1:1/0"),
    ("postgresql://bob:sekret@127.0.0.1:1/animals", "redis://:sekret@127.0.0.1:1/0",
     "==> database: postgresql+psycopg://bob:***@127.0.0.1:1/animals"),
])
def test_launcher_never_prints_passwords(tmp_path, database, redis_url, expected):
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DATABASE_URL")}
    env.update(ANIMALS_INSTANCE_PATH=str(tmp_path), REDIS_URL=redis_url, ANIMALS_DEFAULT_MODEL=str(tmp_path / "none.pt"),
               DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}" if database == "sqlite" else database)
    out = subprocess.run([sys.executable, "-m", "webapp.launch", "--port", str(free_port())], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=120)
    text = out.stdout + out.stderr
    assert out.returncode == 1, text[-2000:]
    assert expected in text and "==> cannot start:" in text
    assert "sekret" not in text and "Traceback" not in text
