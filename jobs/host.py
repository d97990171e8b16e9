"""The small interface a job reports through, and how a job finds the one that enqueued it.

Whether the job's worker lives is RQ's business (its job heartbeats and StartedJobRegistry), and
live progress is RQ's `job.meta`: a host only records what the product keeps after RQ forgets.

A job never imports the program that runs it. Whoever enqueues a job names, in the job's
`meta["host"]`, a class implementing `JobHost` by dotted path ("package.module.Class"); the worker
imports that class and opens one host per job. The web app's host is `webapp.job_adapter.WebJobHost`
(its job row in the database, its Redis keys, its model registry); a test or another front end can
name its own.
"""

from __future__ import annotations

import importlib
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, Protocol

from ml.errors import MLError

#: The `job.meta` key that names the host class.
HOST_META_KEY = "host"


class JobHost(Protocol):
    """What a running job needs from its host: settings, a place to report, a cancel flag, and the records.

    A host class also offers `open(job_id)`: a context manager yielding the host for that job, with
    everything it holds released on exit.
    """

    job_id: str

    def setting(self, key: str) -> Any:
        """One configuration value (DATA_DIR, MODEL_DIR, CRAWL_OPTIONS, CRAWL_BASE_URL)."""

    # -- reporting --------------------------------------------------------------------------------
    def report(self, **fields: Any) -> None:
        """Record the job's state: "running" once at the start, then once at the end the final status with
        stage, progress, result, error_code, error, traceback and log (live progress goes to `job.meta` only)."""

    def discard(self) -> None:
        """Drop half-written record changes after a failure, before the failure is reported."""

    def cancel_requested(self) -> bool:
        """True once someone asked this job to stop."""

    # -- the product's records --------------------------------------------------------------------
    def record_dataset(self, name: str, *, fingerprint: str | None = None, **summary: Any) -> None:
        """Merge the newest facts about dataset `name` (crawls, split, stats) into its record."""

    def model_path(self, model_id: int) -> str:
        """The file of registered model `model_id`; MLError(code="model_missing") when there is none."""

    def add_evaluation(self, model_id: int, key: str, metrics: dict) -> None:
        """Store `metrics` under `key` ("dataset:part") among model `model_id`'s evaluations."""

    def register_model(self, path: Path, *, name: str, arch: str, classes: list[str], metrics: dict,
                       dataset_fingerprint: str | None) -> int:
        """Record a finished model file (already in its final folder); return its id."""


def open_host(rq_job) -> AbstractContextManager[JobHost]:
    """The host the RQ job's enqueuer named in `meta["host"]`, opened for this job."""
    path = (rq_job.meta or {}).get(HOST_META_KEY)
    if not path:
        raise MLError(f"Job {rq_job.id} names no host in meta[{HOST_META_KEY!r}]; enqueue it through the web app "
                      "(or name a JobHost class).", code="job_unknown")
    module, _, name = str(path).rpartition(".")
    try:
        cls = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError, ValueError) as exc:
        raise MLError(f"Job {rq_job.id} names host {path!r}, which cannot be imported ({exc}).",
                      code="job_unknown") from None
    return cls.open(rq_job.id)
