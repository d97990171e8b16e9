"""What every job shares: live progress in job.meta, the final record through its host, cancel, failures.

While a job runs, its progress, stage and log tail live in RQ's `job.meta` only (the web app reads
them from there). The host (see `jobs.host`) hears "running" once at the start and the outcome once at
the end. Whether the worker is alive is RQ's job: the worker heartbeats every job it runs
(`job.last_heartbeat`, its StartedJobRegistry). This module never imports the web app.
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable
from typing import Any

from rq import get_current_job
from rq.timeouts import JobTimeoutException

from ml.errors import Cancelled, MLError
from ml.progress import Progress

from .host import JobHost, open_host

#: Seconds between two writes of job.meta within one stage (a new stage or the last step is written at once).
META_EVERY = 0.2
#: Seconds between two looks at the cancel flag.
CANCEL_EVERY = 0.5
LOG_LINES = 200


class JobContext:
    """Handed to a job body: `on_progress`, `should_stop`, `log`, the job's id and its `host`."""

    def __init__(self, host: JobHost, job_id: str):
        self.host = host
        self.job_id = job_id
        self.rq_job = get_current_job()
        self._last_meta = 0.0
        self._progress: Progress | None = None
        self._last_cancel_check = 0.0
        self._cancelled = False
        self.log_lines: list[str] = []

    def _save_meta(self) -> None:
        """Write the live state (progress record, log tail) to job.meta."""
        self._last_meta = time.monotonic()
        if self.rq_job is not None:
            if self._progress is not None:
                self.rq_job.meta["progress"] = self._progress.as_dict()
            self.rq_job.meta["log"] = self.log_lines[-LOG_LINES:]
            self.rq_job.save_meta()

    def _record(self, **fields: Any) -> None:
        """The one write of the outcome to the host: status and the final stage, progress and log."""
        p = self._progress
        log = "\n".join(self.log_lines[-LOG_LINES:]) + ("\n" if self.log_lines else "")
        fields.setdefault("progress", min(max(p.fraction, 0.0), 1.0) if p else 0.0)
        self.host.report(stage=p.stage if p else None, **fields, log=log)

    # -- callbacks for ml -------------------------------------------------------------------------
    def log(self, line: str) -> None:
        """Append one line to the job's log tail (job.meta while it runs, the record at the end)."""
        self.log_lines.append(f"{time.strftime('%H:%M:%S')} {line}")
        del self.log_lines[:-LOG_LINES]

    def on_progress(self, p: Progress) -> None:
        """Write a progress record to job.meta: at once on a new stage or the last step, else at most 5 times a second."""
        new_stage = self._progress is None or p.stage != self._progress.stage
        if new_stage:
            self.log(f"{p.stage}: started ({p.total} steps)")
        done = bool(p.total and p.done >= p.total)
        if done:
            numbers = {k: v for k, v in p.info.items() if isinstance(v, (int, float, str)) and not isinstance(v, bool)}
            if numbers:
                self.log(f"{p.stage}: done {numbers}")
        self._progress = p
        if new_stage or done or time.monotonic() - self._last_meta >= META_EVERY:
            self._save_meta()

    def should_stop(self) -> bool:
        """True once an admin pressed Cancel (checked at most twice a second)."""
        now = time.monotonic()
        if not self._cancelled and now - self._last_cancel_check >= CANCEL_EVERY:
            self._last_cancel_check = now
            self._cancelled = bool(self.host.cancel_requested())
        return self._cancelled

    # -- lifecycle --------------------------------------------------------------------------------
    def start(self) -> None:
        """Record that the job runs (once; its progress then goes to job.meta)."""
        self.log("started")
        self._save_meta()
        self.host.report(status="running")

    def _end(self, line: str, **fields: Any) -> None:
        self.log(line)
        self._save_meta()
        self._record(**fields)

    def finish(self, result: dict) -> None:
        """Report success with the job's result."""
        self._end("finished", status="finished", progress=1.0, result=result)

    def cancelled(self) -> None:
        """Report that the job stopped because it was asked to."""
        self._end("cancelled", status="cancelled")

    def fail(self, code: str, message: str, tb: str) -> None:
        """Drop half-written records, then report the failure with its code, message and traceback."""
        self.host.discard()
        self._end(f"failed: {message}", status="failed", error_code=code, error=message, traceback=tb)


def run_job(body: Callable[[JobContext], dict]) -> dict:
    """Run `body(ctx)` as the current RQ job: status, progress, cancel and failure bookkeeping."""
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
