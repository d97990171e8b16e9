"""What every job shares: progress into job.meta and its host, cancel, heartbeat, failures.

The host (see `jobs.host`) is whatever enqueued the job: the web app's job row, Redis keys and
registry for web jobs. This module never imports the web app.
"""

from __future__ import annotations

import threading
import time
import traceback
from collections.abc import Callable
from typing import Any

from rq import get_current_job
from rq.timeouts import JobTimeoutException

from ml.errors import Cancelled, MLError
from ml.progress import Progress

from .host import JobHost, open_host

#: Seconds between host writes of progress (job.meta is written as often; it is cheap).
DB_EVERY = 1.0
#: Seconds between two looks at the cancel flag.
CANCEL_EVERY = 0.5
LOG_LINES = 200


class JobContext:
    """Handed to a job body: `on_progress`, `should_stop`, `log`, the job's id and its `host`."""

    def __init__(self, host: JobHost, job_id: str):
        self.host = host
        self.job_id = job_id
        self.rq_job = get_current_job()
        self._ttl = float(host.heartbeat_ttl)
        self._last_db = 0.0
        self._last_stage: str | None = None
        self._last_cancel_check = 0.0
        self._cancelled = False
        self._stop_beat = threading.Event()
        self._beat: threading.Thread | None = None
        self.log_lines: list[str] = []

    def _update(self, **fields: Any) -> None:
        log = "\n".join(self.log_lines[-LOG_LINES:]) + ("\n" if self.log_lines else "")
        self.host.report(**fields, log=log)

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
            self._cancelled = bool(self.host.cancel_requested())
        return self._cancelled

    # -- lifecycle --------------------------------------------------------------------------------
    def _heartbeat(self) -> None:
        while not self._stop_beat.is_set():
            try:
                self.host.beat()
            except Exception:  # a Redis hiccup must not kill the job; reconcile tolerates one missed beat
                pass
            self._stop_beat.wait(max(self._ttl / 3, 0.2))

    def start(self) -> None:
        """Say the job runs: first heartbeat, the heartbeat thread, status "running"."""
        self.host.beat()
        self._beat = threading.Thread(target=self._heartbeat, name="job-heartbeat", daemon=True)
        self._beat.start()
        self.log("started")
        self._update(status="running", stage="starting", progress=0.0)

    def stop_heartbeat(self) -> None:
        """Stop the heartbeat thread and stop saying the job is alive."""
        self._stop_beat.set()
        if self._beat is not None:
            self._beat.join(timeout=5)
        self.host.end()

    def finish(self, result: dict) -> None:
        """Report success with the job's result."""
        self.log("finished")
        self._update(status="finished", progress=1.0, result=result)

    def cancelled(self) -> None:
        """Report that the job stopped because it was asked to."""
        self.log("cancelled")
        self._update(status="cancelled")

    def fail(self, code: str, message: str, tb: str) -> None:
        """Drop half-written records, then report the failure with its code, message and traceback."""
        self.host.discard()
        self.log(f"failed: {message}")
        self._update(status="failed", error_code=code, error=message, traceback=tb)


def run_job(body: Callable[[JobContext], dict]) -> dict:
    """Run `body(ctx)` as the current RQ job: status, progress, heartbeat, cancel and failure bookkeeping."""
    rq_job = get_current_job()
    if rq_job is None:
        raise RuntimeError("run_job must be called by an RQ worker")
    with open_host(rq_job) as host:
        ctx = JobContext(host, rq_job.id)
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
