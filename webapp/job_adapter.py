"""The web app's side of a running job (`jobs.host.JobHost`): the job row, the cancel key, the registry.

`webapp.tasks.enqueue` names `WebJobHost` in each job's meta; the worker opens it around the job.
Only worker processes import this module (it imports nothing heavy, but it is not needed to serve).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from flask import Flask, current_app, has_app_context
from rq import Worker
from sqlalchemy.exc import IntegrityError

from ml.errors import MLError

from .extensions import db
from .models import Dataset, Job, ModelVersion, utcnow
from .redis_conn import get_redis
from .registry import register_model
from .tasks import abandon_dependents, cancel_key, worker_heartbeat

#: Statuses after which the job has ended (the row gets its finished_at).
ENDED = ("finished", "cancelled", "failed")

_app: Flask | None = None


def job_app() -> Flask:
    """The app whose config and DB the job uses: the active one (tests), else one built once per worker."""
    global _app
    if has_app_context():
        return current_app._get_current_object()
    if _app is None:
        from . import create_app

        _app = create_app()
    return _app


class JobWorker(Worker):
    """RQ's forking worker, heartbeating its running job every JOB_HEARTBEAT_TTL / 3 seconds.

    Each heartbeat keeps the job in RQ's StartedJobRegistry for JOB_HEARTBEAT_TTL seconds (plain RQ adds a
    minute to its 30 s monitoring interval), so a worker killed with its work horse is found by
    `StartedJobRegistry.cleanup()` (AbandonedJobError) within JOB_HEARTBEAT_TTL. `flask worker` runs it;
    plain RQ can too: `rq worker --worker-class webapp.job_adapter.JobWorker ...`.
    """

    def __init__(self, *args: Any, app: Flask | None = None, **kwargs: Any):
        self.monitoring_interval, self.alive_for = worker_heartbeat(app or job_app())
        kwargs["job_monitoring_interval"] = self.monitoring_interval  # `rq worker` passes its own 30 s
        super().__init__(*args, **kwargs)

    def get_heartbeat_ttl(self, job) -> int:
        """Seconds the job stays registered as running after this heartbeat."""
        return self.alive_for


class WebJobHost:
    """A job as the web app sees it: a `Job` row keyed by the RQ id (its start and its outcome) and a cancel key."""

    def __init__(self, app: Flask, job_id: str):
        self.app = app
        self.job_id = job_id
        self.redis = get_redis(app)
        self._cancel_key = cancel_key(job_id)

    @classmethod
    @contextmanager
    def open(cls, job_id: str) -> Iterator[WebJobHost]:
        """The host for `job_id`, inside the app context; the DB session is released on exit."""
        app = job_app()
        with app.app_context():
            try:
                yield cls(app, job_id)
            finally:
                db.session.remove()

    def setting(self, key: str) -> Any:
        """One value of the app's config."""
        return self.app.config[key]

    # -- reporting --------------------------------------------------------------------------------
    def _row(self) -> Job:
        row = db.session.get(Job, self.job_id)
        if row is None:
            raise MLError(f"Job {self.job_id} has no database row (was it enqueued by the web app?).", code="job_unknown")
        return row

    def report(self, **fields: Any) -> None:
        """Write the fields to the job row; "running" stamps started_at, an ended status finished_at."""
        row = self._row()
        status = fields.get("status")
        if status == "running":
            fields.setdefault("started_at", utcnow())
        elif status in ENDED:
            fields.setdefault("finished_at", utcnow())
        for key, value in fields.items():
            setattr(row, key, value)
        db.session.commit()
        if status in ("failed", "cancelled"):
            self._abandon_dependents(status)
        if status in ENDED:
            self._move_on_builds()

    def _abandon_dependents(self, status: str) -> None:
        """Fail the jobs queued to run after this one (`depends_on`): they will not start now; never fails the job."""
        try:
            abandon_dependents(self.job_id, status)
        except Exception:  # reconcile finds them deferred behind a failed job instead
            db.session.rollback()
            self.app.logger.exception("Could not end the jobs waiting for job %s", self.job_id)

    def _move_on_builds(self) -> None:
        """Start the next step of the guided build this job belongs to (if any); never fails the job itself."""
        from .builds import job_ended

        try:
            job_ended(self.job_id)
        except Exception:  # the timeline's next look moves the build on instead
            db.session.rollback()
            self.app.logger.exception("Could not move on the build of job %s", self.job_id)

    def discard(self) -> None:
        """Roll back whatever the failed job left in the session."""
        db.session.rollback()

    def cancel_requested(self) -> bool:
        """True once an admin pressed Cancel (the cancel key exists)."""
        return bool(self.redis.exists(self._cancel_key))

    # -- records ----------------------------------------------------------------------------------
    def record_dataset(self, name: str, *, fingerprint: str | None = None, **summary: Any) -> None:
        """Merge the newest facts into the dataset's row (created on first use)."""
        record_dataset(name, fingerprint=fingerprint, **summary)

    def model_path(self, model_id: int) -> str:
        """The file of model version `model_id`."""
        row = db.session.get(ModelVersion, model_id)
        if row is None:
            raise MLError(f"Model version {model_id} no longer exists.", code="model_missing")
        return row.path

    def add_evaluation(self, model_id: int, key: str, metrics: dict) -> None:
        """Store `metrics` under `key` in the model version's metrics["evaluations"]."""
        row = db.session.get(ModelVersion, model_id)
        if row is None:
            raise MLError(f"Model version {model_id} was deleted while it was evaluated.", code="model_missing")
        evaluations = dict((row.metrics or {}).get("evaluations") or {})
        evaluations[key] = metrics
        row.metrics = {**(row.metrics or {}), "evaluations": evaluations}
        db.session.commit()

    def register_model(self, path: Path, *, name: str, arch: str, classes: list[str], metrics: dict,
                       dataset_fingerprint: str | None) -> int:
        """Add the model version (not activated: an admin chooses); return its id."""
        row = register_model(path, name=name, arch=arch, classes=classes, metrics=metrics,
                             dataset_fingerprint=dataset_fingerprint, job_id=self.job_id)
        return row.id


def record_dataset(name: str, *, fingerprint: str | None = None, **summary: Any) -> None:
    """Create or update the dataset's row with the newest facts (crawls, split, stats).

    Two workers may finish jobs on the same dataset at once (two crawls into different classes):
    the row is locked while updated, and a lost race to create it is retried as an update.
    """
    for attempt in range(3):
        row = db.session.execute(db.select(Dataset).filter_by(name=name).with_for_update()).scalar_one_or_none()
        if row is None:
            row = Dataset(name=name, summary={})
            db.session.add(row)
        merged = dict(row.summary or {})
        for key, value in summary.items():
            if isinstance(value, dict) and isinstance(merged.get(key), dict):
                merged[key] = {**merged[key], **value}
            else:
                merged[key] = value
        row.summary = merged
        if fingerprint:
            row.fingerprint = fingerprint
        try:
            db.session.commit()
            return
        except IntegrityError:
            db.session.rollback()
            if attempt == 2:
                raise
