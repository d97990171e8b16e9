"""`make run`: migrate the database, then start Redis (embedded unless REDIS_URL), one RQ worker and the web server.

A worker or web server that exits on its own (the OOM killer, a crash) is started again with
backoff (webapp.supervise) while the other keeps serving; jobs the dead worker was running are
marked "worker lost" once their heartbeat has expired. Everything stops together only on Ctrl-C
(or SIGTERM). Usage: python -m webapp.launch [--host H] [--port P].
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from pathlib import Path

from .supervise import GaveUp, Supervised

ROOT = Path(__file__).resolve().parent.parent


def prepare(app) -> str:
    """Apply migrations, register the shipped default model, make sure Redis answers; return REDIS_URL."""
    from flask_migrate import upgrade

    from .logmask import mask_secrets
    from .redis_conn import ping, redis_url
    from .serving import ensure_default_model

    with app.app_context():
        upgrade()
        try:
            row = ensure_default_model(app)
            print(f"==> model: {row.name if row else 'none yet (train one in the admin panel)'}", flush=True)
        except Exception as exc:  # a broken default model must not stop the site; /readyz reports it
            print(f"==> default model not usable: {mask_secrets(str(exc))}", flush=True)
        url = redis_url(app)
        ping(app)
    return url


def _reconcile(app) -> None:
    """Mark jobs whose worker died as failed now (the admin pages would on their next look)."""
    from .tasks import reconcile

    try:
        with app.app_context():
            changed = reconcile()
    except Exception as exc:  # Redis or the database away for a moment: the pages reconcile later
        print(f"==> could not check for lost jobs: {exc}", flush=True)
        return
    if changed:
        print(f"==> {changed} job(s) whose worker died marked as failed (worker_lost)", flush=True)


def main(argv: list[str] | None = None) -> int:
    """Run everything until Ctrl-C; return the exit status."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5000)
    parser.add_argument("--server", choices=("gunicorn", "flask"), default="gunicorn")
    parser.add_argument("--web-workers", type=int, default=2)
    args = parser.parse_args(argv)

    from . import create_app
    from .logmask import mask_url

    app = create_app()
    print(f"==> database: {mask_url(app.config['SQLALCHEMY_DATABASE_URI'])}", flush=True)
    try:
        url = prepare(app)
    except Exception as exc:  # database or Redis unreachable: one clear line, no traceback, no password
        from .logmask import mask_secrets

        print(f"==> cannot start: {mask_secrets(str(getattr(exc, 'message', None) or exc))}", flush=True)
        return 1
    print(f"==> redis: {mask_url(url)}{' (embedded)' if url.startswith('unix://') else ''}", flush=True)

    env = dict(os.environ, REDIS_URL=url, PYTHONUNBUFFERED="1")
    bin_dir = Path(sys.executable).parent
    flask = [sys.executable, "-m", "flask", "--app", "wsgi"]
    if args.server == "gunicorn":
        web_cmd = [str(bin_dir / "gunicorn"), "-c", str(ROOT / "gunicorn.conf.py"), "--bind", f"{args.host}:{args.port}",
                   "--workers", str(args.web_workers), "wsgi:app"]
    else:
        web_cmd = [*flask, "run", "--host", args.host, "--port", str(args.port)]
    # A dead worker's job leaves RQ's StartedJobRegistry JOB_HEARTBEAT_TTL after its last heartbeat: look just after.
    check_jobs_at: list[float] = []
    heartbeat = float(app.config["JOB_HEARTBEAT_TTL"])

    def _worker_died(_child: Supervised) -> None:
        check_jobs_at.append(time.monotonic() + heartbeat + 1)

    def _log(line: str) -> None:
        print(line, flush=True)

    worker = Supervised("worker", [*flask, "worker"], env, ROOT, log=_log, on_exit=_worker_died)
    web = Supervised("web server", web_cmd, env, ROOT, log=_log)
    worker.start()
    web.start()
    print(f"==> open http://{args.host}:{args.port}/  (admin: /admin/, create a user with "
          f"`.venv/bin/flask create-admin NAME`). Ctrl-C stops everything.", flush=True)

    stopping = {"flag": False}

    def _request_stop(signum, frame):
        stopping["flag"] = True

    signal.signal(signal.SIGINT, _request_stop)
    signal.signal(signal.SIGTERM, _request_stop)
    status = 0
    try:
        while not stopping["flag"]:
            for child in (web, worker):
                child.check()
            if check_jobs_at and time.monotonic() >= check_jobs_at[0]:
                check_jobs_at.pop(0)
                _reconcile(app)
            time.sleep(0.3)
    except GaveUp as exc:
        print(f"==> {exc}; stopping", flush=True)
        status = 1
    finally:
        print("==> stopping web server and worker", flush=True)
        web.stop((signal.SIGTERM,), 10)
        # RQ: the first SIGINT lets the current job finish, the second stops it (it is then marked failed).
        worker.stop((signal.SIGINT, signal.SIGINT), 5)
        from .redis_conn import stop_embedded_redis

        stop_embedded_redis()
        print("==> stopped", flush=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
