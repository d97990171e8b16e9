"""What every job shares: a lazy app context, progress into job.meta + the DB, cancel, heartbeat, failures."""

from __future__ import annotations

import threading
import time
import traceback
from collections.abc import Callable
from typing import Any

from flask import Flask, current_app, has_app_context
from rq import get_current_job
from rq.timeouts import JobTimeoutException

from ml.errors import Cancelled, MLError
from ml.progress import Progress

#: Seconds between DB writes of progress (job.meta is written as often; it is cheap).
DB_EVERY = 1.0
#: Seconds between two looks at the cancel key.
CANCEL_EVERY = 0.5
LOG_LINES = 200

_app: Flask | None = None


def job_app() -> Flask:
    """The app whose config and DB the job uses: the active one (tests), else one built once per worker."""
    global _app
    if has_app_context():
        return current_app._get_current_object()
    if _app is None:
        from webapp import create_app

        _app = create_app()
    return _app


class JobContext:
    """Handed to a job body: `on_progress`, `should_stop`, `log`, and the job's id and app."""

    def __init__(self, app: Flask, job_id: str):
        from webapp.redis_conn import get_redis
        from webapp.tasks import alive_key, cancel_key

        self.app = app
        self.job_id = job_id
        self.rq_job = get_current_job()
        self.redis = get_redis(app)
        self._cancel_key = cancel_key(job_id)
        self._alive_key = alive_key(job_id)
        self._ttl = int(app.config["JOB_HEARTBEAT_TTL"])
        self._last_db = 0.0
        self._last_stage: str | None = None
        self._last_cancel_check = 0.0
        self._cancelled = False
        self._stop_beat = threading.Event()
        self._beat: threading.Thread | None = None
        self.log_lines: list[str] = []

    # -- the row ----------------------------------------------------------------------------------
    def _row(self):
        from webapp.extensions import db
        from webapp.models import Job

        row = db.session.get(Job, self.job_id)
        if row is None:
            raise MLError(f"Job {self.job_id} has no database row (was it enqueued by the web app?).", code="job_unknown")
        return row

    def _update(self, **fields: Any) -> None:
        from webapp.extensions import db

        row = self._row()
        for key, value in fields.items():
            setattr(row, key, value)
        row.log = "\n".join(self.log_lines[-LOG_LINES:]) + ("\n" if self.log_lines else "")
        db.session.commit()

    # -- callbacks for ml -------------------------------------------------------------------------
    def log(self, line: str) -> None:
        """Append one line to the job's log tail (DB and job.meta)."""
        self.log_lines.append(f"{time.strftime('%H:%M:%S')} {line}")
        del self.log_lines[:-LOG_LINES]

    def on_progress(self, p: Progress) -> None:
        """Write a progress record to job.meta always, to the DB at most once a second or on a new stage."""
        now = time.monotonic()
        new_stage = p.stage != self._last_stage
        if new_stage:
            self.log(f"{p.stage}: started ({p.total} steps)")
            self._last_stage = p.stage
        if self.rq_job is not None:
            self.rq_job.meta["progress"] = p.as_dict()
            self.rq_job.save_meta()
        if new_stage or now - self._last_db >= DB_EVERY or (p.total and p.done >= p.total):
            self._last_db = now
            numbers = {k: v for k, v in p.info.items() if isinstance(v, (int, float, str)) and not isinstance(v, bool)}
            if numbers and (p.total and p.done >= p.total):
                self.log(f"{p.stage}: done {numbers}")
            self._update(stage=p.stage, progress=min(max(p.fraction, 0.0), 1.0))

    def should_stop(self) -> bool:
        """True once an admin pressed Cancel (checked at most twice a second)."""
        now = time.monotonic()
        if not self._cancelled and now - self._last_cancel_check >= CANCEL_EVERY:
            self._last_cancel_check = now
            self._cancelled = bool(self.redis.exists(self._cancel_key))
        return self._cancelled

    # -- lifecycle --------------------------------------------------------------------------------
    def _heartbeat(self) -> None:
        while not self._stop_beat.is_set():
            try:
                self.redis.set(self._alive_key, "1", ex=self._ttl)
            except Exception:  # a Redis hiccup must not kill the job; reconcile tolerates one missed beat
                pass
            self._stop_beat.wait(max(self._ttl / 3, 0.2))

    def start(self) -> None:
        from webapp.models import utcnow

        self.redis.set(self._alive_key, "1", ex=self._ttl)
        self._beat = threading.Thread(target=self._heartbeat, name="job-heartbeat", daemon=True)
        self._beat.start()
        self.log("started")
        self._update(status="running", started_at=utcnow(), stage="starting", progress=0.0)

    def stop_heartbeat(self) -> None:
        self._stop_beat.set()
        if self._beat is not None:
            self._beat.join(timeout=5)
        self.redis.delete(self._alive_key)

    def finish(self, result: dict) -> None:
        from webapp.models import utcnow

        self.log("finished")
        self._update(status="finished", progress=1.0, result=result, finished_at=utcnow())

    def cancelled(self) -> None:
        from webapp.models import utcnow

        self.log("cancelled")
        self._update(status="cancelled", finished_at=utcnow())

    def fail(self, code: str, message: str, tb: str) -> None:
        from webapp.extensions import db
        from webapp.models import utcnow

        db.session.rollback()
        self.log(f"failed: {message}")
        self._update(status="failed", error_code=code, error=message, traceback=tb, finished_at=utcnow())


def run_job(body: Callable[[JobContext], dict]) -> dict:
    """Run `body(ctx)` as the current RQ job: status, progress, heartbeat, cancel and failure bookkeeping."""
    rq_job = get_current_job()
    if rq_job is None:
        raise RuntimeError("run_job must be called by an RQ worker")
    app = job_app()
    with app.app_context():
        ctx = JobContext(app, rq_job.id)
        ctx.start()
        try:
            result = body(ctx)
        except Cancelled:
            ctx.cancelled()
            return {"cancelled": True}
        except MLError as exc:
            ctx.fail(exc.code, exc.message, traceback.format_exc())
            raise
        except JobTimeoutException:
            ctx.fail("timeout", f"The job ran past its time limit of {rq_job.timeout} s and was stopped.", traceback.format_exc())
            raise
        except Exception as exc:
            ctx.fail("internal_error", f"The job crashed: {type(exc).__name__}: {exc}", traceback.format_exc())
            raise
        else:
            ctx.finish(result)
            return result
        finally:
            ctx.stop_heartbeat()
            from webapp.extensions import db

            db.session.remove()
