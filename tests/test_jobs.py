"""Jobs run by a real RQ worker against a real Redis (embedded, and the machine's when REDIS_URL is set)."""

from __future__ import annotations

import pytest
from rq.job import Job as RQJob
from rq.serializers import JSONSerializer

from tests.conftest import create_admin, make_app
from tests.imagegen import make_dataset
from tests.web_support import enqueue_raw, job_row, run_worker, slow_job  # noqa: F401  (slow_job is enqueued by name)
from webapp import tasks
from webapp.extensions import db
from webapp.models import Dataset, User
from webapp.redis_conn import get_redis


@pytest.fixture
def japp(tmp_path, redis_url):
    """An app on the parametrized Redis (embedded / machine)."""
    app = make_app(tmp_path, redis=redis_url)
    yield app
    with app.app_context():
        db.engine.dispose()


def _dataset(app, name="pets", counts=None, seed=0):
    from pathlib import Path

    return make_dataset(Path(app.config["DATA_DIR"]) / name, counts or {"猫": 8, "dog": 8}, coloured=True, seed=seed)


def test_split_job_runs_on_a_real_worker_and_records_progress(japp):
    _dataset(japp)
    uid = create_admin(japp)
    with japp.app_context():
        row = tasks.enqueue("split", {"dataset": "pets", "test": 0.25}, db.session.get(User, uid))
        job_id = row.id
        rq_job = RQJob.fetch(job_id, connection=get_redis(), serializer=JSONSerializer)
        assert rq_job.func_name == "jobs.dataset.run"
        # The job takes its target and the declared config (ml.operations.split.SplitConfig) as JSON.
        assert rq_job.kwargs == {"dataset": "pets", "config": {"test": 0.25, "val": 0.0, "seed": 0}}
        assert rq_job.timeout == japp.config["JOB_TIMEOUTS"]["crawl"]
        assert row.queue.endswith("crawl")
    run_worker(japp)
    done = job_row(japp, job_id)
    assert done["status"] == "finished", done
    assert done["progress"] == 1.0
    assert done["created_by"] == "admin"
    assert done["result"]["split"]["counts"]
    assert any("split" in line or "scan" in line for line in done["log"])
    with japp.app_context():
        rq_job = RQJob.fetch(job_id, connection=get_redis(), serializer=JSONSerializer)
        assert rq_job.meta["progress"]["fraction"] == 1.0
        dataset = db.session.execute(db.select(Dataset).filter_by(name="pets")).scalar_one()
        assert dataset.fingerprint and dataset.summary["stats"]["mean"]


def test_failed_job_keeps_its_traceback_and_can_be_retried(japp):
    _dataset(japp, counts={"only": 6})  # one class: split refuses it
    with japp.app_context():
        job_id = tasks.enqueue("split", {"dataset": "pets"}).id
    run_worker(japp)
    failed = job_row(japp, job_id)
    assert failed["status"] == "failed"
    assert failed["error"]["code"] != "internal_error"
    assert "Traceback" in failed["traceback"]
    _dataset(japp, counts={"other": 6}, seed=7)
    with japp.app_context():
        again = tasks.retry(job_id)
        assert again.retry_of == job_id and again.id != job_id
        again_id = again.id
    run_worker(japp)
    assert job_row(japp, again_id)["status"] == "finished"


def test_the_worker_heartbeats_a_running_job_three_times_per_ttl(japp):
    """RQ's own heartbeat, tuned: a job without one for JOB_HEARTBEAT_TTL leaves the StartedJobRegistry."""
    from webapp.job_adapter import JobWorker
    from webapp.redis_conn import all_queues

    with japp.app_context():
        worker = JobWorker(all_queues(), connection=get_redis(), serializer=JSONSerializer,
                           job_monitoring_interval=30)  # what `rq worker --worker-class ...` passes
        assert japp.config["JOB_HEARTBEAT_TTL"] == 3
        assert worker.job_monitoring_interval == 1 and worker.get_heartbeat_ttl(None) == 3


def test_cancel_queued_job_never_runs(japp):
    _dataset(japp)
    with japp.app_context():
        job_id = tasks.enqueue("split", {"dataset": "pets"}).id
        assert tasks.cancel(job_id).status == "cancelled"
    run_worker(japp)
    assert job_row(japp, job_id)["status"] == "cancelled"
    with japp.app_context(), pytest.raises(tasks.Conflict):
        tasks.cancel(job_id)


def test_cancel_running_job_stops_at_next_progress_step(japp):
    job_id = enqueue_raw(japp, "tests.web_support.slow_job", {"steps": 2000, "delay": 0.01})
    with japp.app_context():
        # The cancel key is what the running job polls; set before the worker starts = cancel at step one.
        get_redis().set(tasks.cancel_key(job_id), "1")
    run_worker(japp)
    row = job_row(japp, job_id)
    assert row["status"] == "cancelled"
    assert row["progress"] < 0.5


@pytest.mark.parametrize("params", [
    {"dataset": "../outside"}, {"dataset": "/etc"}, {"dataset": ".hidden"}, {"dataset": "a/b"}, {"dataset": ""},
    {"dataset": "nope"},
])
def test_split_refuses_bad_dataset_names(app, params):
    with app.app_context(), pytest.raises(tasks.InvalidParams):
        tasks.enqueue("split", params)


@pytest.mark.parametrize("params", [
    {"dataset": "x", "keywords": []}, {"dataset": "x", "keywords": "猫", "class_name": "../../evil"},
    {"dataset": "..", "keywords": "猫"}, {"dataset": "x", "keywords": "猫", "count": 0},
])
def test_crawl_refuses_bad_params(app, params):
    with app.app_context(), pytest.raises(tasks.InvalidParams):
        tasks.enqueue("crawl", params)


def test_train_params_are_checked(app):
    (lambda p: p.mkdir(parents=True))(__import__("pathlib").Path(app.config["DATA_DIR"]) / "pets")
    with app.app_context():
        for bad in ({"epochs": 0}, {"lr": "fast"}, {"mode": "deep"}, {"arch": "x;rm -rf"}, {"batch_size": -1},
                    {"arch": "vgg99"}, {"device": "tpu"}):
            with pytest.raises(tasks.InvalidParams):
                tasks.enqueue("train", {"dataset": "pets", **bad})
        # Every architecture of ml's registry is accepted (checked against its torch-free list of names).
        for arch in ("resnet18", "efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2"):
            params = tasks.KINDS["train"].validate({"dataset": "pets", "arch": arch, "device": "cuda"})
            assert params["arch"] == arch and params["device"] == "cuda" and params["image_size"] is None  # the arch's own
        assert tasks.KINDS["train"].validate({"dataset": "pets"})["device"] == "auto"
        with pytest.raises(tasks.InvalidParams):
            tasks.enqueue("bake", {})


def test_enqueue_when_redis_is_down_is_a_clear_error(tmp_path):
    app = make_app(tmp_path, redis="redis://127.0.0.1:1/0")
    (tmp_path / "instance" / "datasets" / "pets").mkdir(parents=True)
    with app.app_context():
        with pytest.raises(tasks.RedisUnavailable):
            tasks.enqueue("split", {"dataset": "pets"})
        row = db.session.execute(db.select(tasks.Job)).scalar_one()
        assert row.status == "failed" and row.error_code == "redis_unavailable"


def test_two_jobs_recording_the_same_new_dataset_do_not_collide(db_app):
    """Two workers finishing crawls into one new dataset at once: both facts are kept, no unique-key crash."""
    import threading

    from webapp.job_adapter import record_dataset

    errors = []

    def record(cls):
        try:
            with db_app.app_context():
                record_dataset("zoo", crawls={cls: {"downloaded": 3}})
        except Exception as exc:  # noqa: BLE001  (collected and asserted below)
            errors.append(exc)

    threads = [threading.Thread(target=record, args=(c,)) for c in ("猫", "dog")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with db_app.app_context():
        row = db.session.execute(db.select(Dataset).filter_by(name="zoo")).scalar_one()
        assert set(row.summary["crawls"]) == {"猫", "dog"}
