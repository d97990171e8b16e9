"""The web side of background jobs: validate, record a DB row keyed by the RQ id, enqueue by dotted path.

The web process never imports `jobs` (nor torch): RQ imports "jobs.train.run" in the worker.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis
from flask import current_app
from rq.exceptions import InvalidJobOperation, NoSuchJobError
from rq.job import Job as RQJob
from rq.job import JobStatus
from rq.registry import DeferredJobRegistry
from rq.serializers import JSONSerializer
from rq.worker import Worker

from ml.errors import MLError
from ml.operations import (
    Config,
    CrawlClassesRequest,
    CrawlRequest,
    EvaluateConfig,
    ReviewConfig,
    SplitConfig,
    TrainConfig,
    clean_name,
)
from ml.places import partial_model_dir

from .errors import Conflict, InvalidParams, NotFound
from .extensions import db
from .i18n import N_
from .logmask import mask_secrets
from .models import Job, ModelVersion, User, utcnow
from .redis_conn import RedisUnavailable, all_queues, get_queue, get_redis
from .registry import active_model

#: Names the job's host for the worker (`jobs.host.HOST_META_KEY` -> the class `jobs.host.open_host` imports).
JOB_META = {"host": "webapp.job_adapter.WebJobHost"}

def safe_name(value: Any, what: str) -> str:
    """`value` as one harmless folder name by the one name rule (`ml.operations.names`); InvalidParams otherwise."""
    return clean_name(value, what, error=InvalidParams)


def _existing_dataset(params: dict) -> str:
    name = safe_name(params.get("dataset"), "Dataset")
    if not (Path(current_app.config["DATA_DIR"]) / name).is_dir():
        raise InvalidParams(f"There is no dataset named {name!r}.")
    return name


def _web_config(cls: type[Config], params: dict, targets: tuple[str, ...]) -> dict:
    """The web-settable settings of `cls` from `params` (without the job's targets), checked by the declaration."""
    try:
        config = cls.from_dict({k: v for k, v in params.items() if k not in targets}, web=True).validate()
    except MLError as exc:
        raise InvalidParams(exc.message) from None
    return {s.name: getattr(config, s.name) for s in cls.web_settings()}


def _crawl_params(p: dict) -> dict:
    config = _web_config(CrawlRequest, p, ("dataset",))
    try:
        config["class_name"] = CrawlRequest(**config).with_class_name().class_name
    except MLError as exc:
        raise InvalidParams(exc.message) from None
    return {"dataset": safe_name(p.get("dataset"), "Dataset"), **config}


def _crawl_classes_params(p: dict) -> dict:
    return {"dataset": safe_name(p.get("dataset"), "Dataset"), **_web_config(CrawlClassesRequest, p, ("dataset",))}


def _split_params(p: dict) -> dict:
    return {"dataset": _existing_dataset(p), **_web_config(SplitConfig, p, ("dataset",))}


def _train_params(p: dict) -> dict:
    return {"dataset": _existing_dataset(p), **_web_config(TrainConfig, p, ("dataset",))}


def _existing_model_id(raw: Any) -> int:
    """`raw` as the id of a registered model version, or InvalidParams saying why not."""
    try:
        model_id = int(raw)
    except (TypeError, ValueError):
        raise InvalidParams(f"model_id must be a number, not {raw!r}.") from None
    if db.session.get(ModelVersion, model_id) is None:
        raise InvalidParams(f"There is no model version {model_id}.")
    return model_id


def _evaluate_params(p: dict) -> dict:
    model_id = _existing_model_id(p.get("model_id"))
    return {"model_id": model_id, "dataset": _existing_dataset(p),
            **_web_config(EvaluateConfig, p, ("model_id", "dataset"))}


def _review_params(p: dict) -> dict:
    """The dataset, and the model whose features judge it (`model_id`, default: the active one; None: a backbone)."""
    raw = p.get("model_id")
    if raw in (None, ""):
        row = active_model() if p.get("use_active", True) else None
        model_id = row.id if row is not None else None
    else:
        model_id = _existing_model_id(raw)
    return {"dataset": _existing_dataset(p), **({"model_id": model_id} if model_id is not None else {}),
            **_web_config(ReviewConfig, p, ("dataset", "model_id", "use_active"))}


@dataclass(frozen=True)
class JobKind:
    """What a kind of job runs (dotted path, imported only by workers), on which queue, with which settings.

    `config` is the operation's declaration (`ml.operations`); `targets` are the parameters that name
    what the job works on (a dataset, a model). The job function is called as
    `func(**targets, config={...the web settings...})`.
    """

    func: str
    queue: str
    validate: Callable[[dict], dict]
    title: str
    config: type[Config]
    targets: tuple[str, ...] = ("dataset",)
    #: Targets a caller may leave out (the review's model: the active one, or none).
    optional: tuple[str, ...] = ()

    def job_kwargs(self, clean: dict) -> dict:
        """The job function's keyword arguments for validated params: the targets, and the config as a dict."""
        return {**{k: clean[k] for k in self.targets if k in clean}, "config": {k: v for k, v in clean.items() if k not in self.targets}}


KINDS: dict[str, JobKind] = {
    "crawl": JobKind("jobs.crawl.run", "crawl", _crawl_params, N_("Crawl images into a class"), CrawlRequest),
    "crawl_classes": JobKind("jobs.crawl.run_classes", "crawl", _crawl_classes_params,
                             N_("Crawl images into several classes at once"), CrawlClassesRequest),
    "split": JobKind("jobs.dataset.run", "crawl", _split_params, N_("Scan, split and measure a dataset"), SplitConfig),
    "train": JobKind("jobs.train.run", "train", _train_params, N_("Train a model"), TrainConfig),
    "evaluate": JobKind("jobs.evaluate.run", "train", _evaluate_params, N_("Evaluate a model"), EvaluateConfig,
                        ("model_id", "dataset")),
    "review": JobKind("jobs.review.run", "train", _review_params, N_("Find suspect pictures to review"), ReviewConfig,
                      ("dataset", "model_id"), ("model_id",)),
}


def _kind(kind: str) -> JobKind:
    try:
        return KINDS[kind]
    except KeyError:
        raise InvalidParams(f"Unknown job kind {kind!r}; expected one of {', '.join(KINDS)}.") from None


def enqueue(kind: str, params: dict, user: User | None = None, *, retry_of: str | None = None,
            depends_on: str | None = None, server_settings: dict | None = None) -> Job:
    """Validate `params`, write the job row, enqueue the job function by name (after `depends_on`); return the row.

    `server_settings` are settings the server itself sets that no form may (a build's display names):
    checked by the same declaration, without the web restriction, and kept with the params.
    """
    spec = _kind(kind)
    clean = spec.validate(dict(params or {}))
    if server_settings:
        try:
            spec.config.from_dict({**{k: v for k, v in clean.items() if k not in spec.targets},
                                   **server_settings}).validate()
        except MLError as exc:
            raise InvalidParams(exc.message) from None
        clean = {**clean, **server_settings}
    queue = get_queue(spec.queue)
    row = Job(id=uuid.uuid4().hex, kind=kind, queue=queue.name, params=clean, status="queued",
              created_by_id=getattr(user, "id", None), retry_of=retry_of, log="")
    db.session.add(row)
    db.session.commit()
    try:
        queue.enqueue(spec.func, kwargs=spec.job_kwargs(clean), job_id=row.id, job_timeout=current_app.config["JOB_TIMEOUTS"][spec.queue],
                      result_ttl=7 * 86400, failure_ttl=30 * 86400, description=f"{kind} {clean}",
                      meta=dict(JOB_META), depends_on=depends_on)
    except redis.RedisError as exc:
        row.status, row.error_code, row.finished_at = "failed", "redis_unavailable", utcnow()
        row.error = mask_secrets(f"Redis is unreachable: {exc}")
        db.session.commit()
        raise RedisUnavailable(f"The job could not be queued because Redis is unreachable ({exc}).") from exc
    return row


def get_job(job_id: str) -> Job:
    """The job row, reconciled with Redis and showing its live progress; NotFound when there is none."""
    row = db.session.get(Job, job_id)
    if row is None:
        raise NotFound(f"There is no job {job_id!r}.")
    if row.active:
        reconcile([row])
    return row


def cancel_key(job_id: str) -> str:
    """The Redis key a running job polls to learn it should stop."""
    return f"{current_app.config['QUEUE_PREFIX']}animals:cancel:{job_id}"


def cancel(job_id: str) -> Job:
    """Stop a queued job now, or ask a running one to stop at its next progress step."""
    row = get_job(job_id)
    if not row.active:
        raise Conflict(f"The job is already {row.status}; only queued or running jobs can be cancelled.")
    conn = get_redis()
    conn.set(cancel_key(job_id), "1", ex=7 * 86400)
    if row.status == "queued":
        try:
            RQJob.fetch(job_id, connection=conn, serializer=JSONSerializer).cancel()
        except NoSuchJobError:
            pass
        row.status, row.finished_at = "cancelled", utcnow()
    row.log = ((row.log or "") + "Cancel requested.\n")[-20000:]
    db.session.commit()
    return row


def retry(job_id: str, user: User | None = None) -> Job:
    """Start a failed or cancelled job again with the same parameters (a new job id)."""
    row = get_job(job_id)
    if row.status not in ("failed", "cancelled"):
        raise Conflict(f"The job is {row.status}; only failed or cancelled jobs can be retried.")
    spec = _kind(row.kind)
    web = {s.name for s in spec.config.web_settings()} | set(spec.targets)
    server = {k: v for k, v in row.params.items() if k not in web}
    return enqueue(row.kind, {k: v for k, v in row.params.items() if k in web}, user, retry_of=row.id,
                   server_settings=server or None)


def _fail(row: Job, code: str, message: str, tb: str | None = None) -> None:
    row.status, row.error_code, row.error, row.finished_at = "failed", code, message, utcnow()
    if tb and not row.traceback:
        row.traceback = tb


#: What RQ writes when a job's worker died: StartedJobRegistry.cleanup found its heartbeats stopped
#: (the worker and its work horse were killed), or the worker saw its work horse die.
WORKER_DEATH = ("AbandonedJobError", "Work-horse terminated unexpectedly")
WORKER_LOST = ("The worker running this job stopped (killed or crashed) before it finished. Nothing it was "
               "writing was activated; use Retry to run it again.")


def worker_heartbeat(app=None) -> tuple[int, int]:
    """(seconds between a worker's heartbeats of a running job, seconds a job counts as alive after one).

    The worker (`webapp.job_adapter.JobWorker`) heartbeats three times per JOB_HEARTBEAT_TTL, and each beat
    keeps the job in RQ's StartedJobRegistry for JOB_HEARTBEAT_TTL (RQ's own default is a minute longer).
    """
    ttl = max(int((app or current_app).config["JOB_HEARTBEAT_TTL"]), 2)
    return max(ttl // 3, 1), ttl


def _live(rq_job: RQJob | None) -> dict[str, Any] | None:
    """A running job's progress, stage and log tail from its job.meta (written by `jobs.runner`)."""
    if rq_job is None:
        return None
    meta = rq_job.meta or {}
    progress = meta.get("progress") or {}
    info = progress.get("info") or {}
    return {"stage": progress.get("stage"), "progress": float(progress.get("fraction") or 0.0),
            "log": list(meta.get("log") or []),
            "eta_s": info.get("eta_s") if isinstance(info.get("eta_s"), (int, float)) else None}


def _remove_partial_model(row: Job) -> None:
    """Delete the half-written model folder a killed training left (`jobs.train` writes under it)."""
    if row.kind == "train":
        shutil.rmtree(partial_model_dir(current_app.config["MODEL_DIR"], row.id), ignore_errors=True)


#: How a job's kind reads in "The split it waited for failed, so this training did not start."
_NOUNS = {"train": "training", "evaluate": "evaluation", "crawl_classes": "crawl"}
#: Why a job ended without success, as that message says it.
_ENDED = {JobStatus.FAILED: "failed", JobStatus.STOPPED: "was stopped", JobStatus.CANCELED: "was cancelled",
          "failed": "failed", "cancelled": "was cancelled"}


def _abandon(row: Job, rq_job: RQJob, waited_for: str, ended: str) -> None:
    """Fail `row`, whose RQ job waits (deferred) for one that `ended` without success: RQ would leave it deferred
    forever. It is cancelled in RQ and taken out of the DeferredJobRegistry, so no worker ever runs it."""
    try:
        rq_job.cancel(remove_from_dependencies=True)
    except InvalidJobOperation:  # already cancelled
        pass
    DeferredJobRegistry(rq_job.origin, connection=rq_job.connection, serializer=JSONSerializer).remove(rq_job)
    _fail(row, "dependency_failed", f"The {_NOUNS.get(waited_for, waited_for)} it waited for {ended}, "
                                    f"so this {_NOUNS.get(row.kind, row.kind)} did not start.")


def _waited_in_vain(rq_job: RQJob) -> tuple[str, str] | None:
    """(kind, how it ended) of the job a deferred `rq_job` waits for when that one failed, stopped or was cancelled."""
    for dep_id in rq_job.dependency_ids:
        try:
            status = RQJob.fetch(dep_id, connection=rq_job.connection, serializer=JSONSerializer).get_status(refresh=False)
        except NoSuchJobError:
            continue  # a finished dependency whose result expired: RQ enqueued the dependents then
        if status in (JobStatus.FAILED, JobStatus.STOPPED, JobStatus.CANCELED):
            dep = db.session.get(Job, dep_id)
            return (dep.kind if dep is not None else "job"), _ENDED[status]
    return None


def abandon_dependents(job_id: str, ended: str) -> int:
    """Fail the jobs still waiting (RQ `depends_on`) for `job_id`, which `ended` ("failed", "cancelled"); how many.

    Called when a job ends without success (`webapp.job_adapter`), before RQ finishes with it: a job
    cancelled while running returns normally, and RQ would otherwise start its dependents.
    """
    conn = get_redis()
    try:
        parent = RQJob.fetch(job_id, connection=conn, serializer=JSONSerializer)
    except NoSuchJobError:
        return 0
    parent_row = db.session.get(Job, job_id)
    changed = 0
    for dep_id in parent.dependent_ids:
        row = db.session.get(Job, dep_id)
        try:
            rq_job = RQJob.fetch(dep_id, connection=conn, serializer=JSONSerializer)
        except NoSuchJobError:
            continue
        if row is None or row.status != "queued" or rq_job.get_status(refresh=False) != JobStatus.DEFERRED:
            continue
        _abandon(row, rq_job, parent_row.kind if parent_row is not None else "job", _ENDED.get(ended, ended))
        changed += 1
    db.session.commit()
    return changed


def reconcile(rows: list[Job] | None = None) -> int:
    """Bring active job rows up to date with RQ; return how many ended; show the others' live progress.

    A row whose RQ job failed, was stopped or vanished gets its outcome. A killed worker (kill -9, OOM,
    machine lost) is RQ's to notice: its heartbeats stop, so its StartedJobRegistry entry expires and
    `cleanup()` moves the job to the FailedJobRegistry with AbandonedJobError; the row then says
    `worker_lost` and the half-written model folder is removed. A job waiting for one that failed (RQ
    leaves it deferred for ever) fails with dependency_failed (`_abandon`). Rows still running get `row.live` from
    their job.meta (never written to the database).
    """
    if rows is None:
        rows = list(db.session.execute(db.select(Job).where(Job.status.in_(("queued", "running")))).scalars())
    if not rows:
        return 0
    conn = get_redis()
    if any(row.status == "running" for row in rows):
        for queue in all_queues():
            queue.started_job_registry.cleanup()
    changed = 0
    for row in rows:
        try:
            rq_job = RQJob.fetch(row.id, connection=conn, serializer=JSONSerializer)
            status = rq_job.get_status(refresh=False)
        except NoSuchJobError:
            rq_job, status = None, None
        if status == JobStatus.FAILED:
            result = rq_job.latest_result()
            tb = getattr(result, "exc_string", None)
            live = _live(rq_job)
            row.stage, row.progress = row.stage or live["stage"], row.progress or live["progress"]
            if not row.log and live["log"]:
                row.log = "\n".join(live["log"]) + "\n"
            if not row.error_code and any(mark in (tb or "") for mark in WORKER_DEATH):
                _fail(row, "worker_lost", WORKER_LOST, tb)
                _remove_partial_model(row)
            else:
                last = (tb or "").strip().splitlines()[-1:] or ["the worker reported a failure"]
                _fail(row, row.error_code or "job_failed", row.error or f"The job failed: {last[0]}", tb)
        elif status in (JobStatus.STOPPED, JobStatus.CANCELED):
            row.status, row.finished_at = "cancelled", utcnow()
        elif status == JobStatus.DEFERRED and (why := _waited_in_vain(rq_job)):
            _abandon(row, rq_job, *why)
        elif rq_job is None:
            _fail(row, "job_lost", "The job disappeared from the queue (Redis was emptied or restarted).")
        else:
            row.live = _live(rq_job)
            continue
        changed += 1
    db.session.commit()
    return changed


def queue_status() -> dict[str, Any]:
    """Queue lengths and live workers, for the admin page and /readyz."""
    conn = get_redis()
    queues = [{"name": q.name, "queued": q.count, "started": q.started_job_registry.count,
               "failed": q.failed_job_registry.count} for q in all_queues()]
    names = {q["name"] for q in queues}
    workers = [{"name": w.name, "state": str(w.get_state()), "queues": w.queue_names(),
                "current_job": w.get_current_job_id()}
               for w in Worker.all(connection=conn) if names & set(w.queue_names())]
    return {"queues": queues, "workers": workers}


def recent_jobs(limit: int = 50, *, reconciled: bool = True) -> list[Job]:
    """The newest jobs first, reconciled with Redis with live progress (or as the database last saw them: `reconciled=False`)."""
    rows = list(db.session.execute(db.select(Job).order_by(Job.created_at.desc()).limit(limit)).scalars())
    if reconciled:
        reconcile()  # every active job, not only the ones shown; `rows` are the same objects (one session)
    return rows
