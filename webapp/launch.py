"""`make run`: migrate the database, then start Redis (embedded unless REDIS_URL), one RQ worker and the web server.

All of them stop together on Ctrl-C (or SIGTERM). Usage: python -m webapp.launch [--host H] [--port P].
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

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


def _spawn(cmd: list[str], env: dict[str, str]) -> subprocess.Popen:
    # Own process group: the terminal's Ctrl-C reaches only us, and we stop the children in order.
    return subprocess.Popen(cmd, cwd=ROOT, env=env, start_new_session=True)


def _stop(proc: subprocess.Popen, name: str, signals: tuple[int, ...], wait: float) -> None:
    for sig in signals:
        if proc.poll() is not None:
            return
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue
    if proc.poll() is None:
        print(f"==> {name} did not stop; killing it", flush=True)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


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
    worker = _spawn([*flask, "worker"], env)
    if args.server == "gunicorn":
        web_cmd = [str(bin_dir / "gunicorn"), "-c", str(ROOT / "gunicorn.conf.py"), "--bind", f"{args.host}:{args.port}",
                   "--workers", str(args.web_workers), "wsgi:app"]
    else:
        web_cmd = [*flask, "run", "--host", args.host, "--port", str(args.port)]
    web = _spawn(web_cmd, env)
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
            for name, proc in (("web server", web), ("worker", worker)):
                if proc.poll() is not None:
                    print(f"==> the {name} exited with status {proc.returncode}; stopping", flush=True)
                    stopping["flag"], status = True, 1
            time.sleep(0.3)
    finally:
        print("==> stopping web server and worker", flush=True)
        _stop(web, "web server", (signal.SIGTERM,), 10)
        # RQ: the first SIGINT lets the current job finish, the second stops it (it is then marked failed).
        _stop(worker, "worker", (signal.SIGINT, signal.SIGINT), 5)
        from .redis_conn import stop_embedded_redis

        stop_embedded_redis()
        print("==> stopped", flush=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
