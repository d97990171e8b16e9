"""Real `flask worker` processes: a worker killed mid-job leaves the job failed, never a half-written model.

Also the train and evaluate jobs end to end on a tiny model.
"""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from ml.dataset import split
from tests.conftest import TINY_TRAIN
from tests.imagegen import make_dataset
from tests.web_support import enqueue_raw, job_row, job_state, run_worker, start_worker_process, wait_for
from webapp import tasks
from webapp.extensions import db
from webapp.models import ModelVersion
from webapp.redis_conn import all_queues


def _kill_group(proc) -> None:
    """kill -9 the worker and its work horse (RQ puts the horse in a session of its own)."""
    import psutil

    parent = psutil.Process(proc.pid)
    for process in [*parent.children(recursive=True), parent]:
        try:
            process.send_signal(signal.SIGKILL)
        except psutil.NoSuchProcess:
            pass
    proc.wait(timeout=10)


def _running(app, job_id, min_progress=0.0):
    """The job's live view while it runs past `min_progress` (progress comes from RQ's job.meta)."""
    row = job_state(app, job_id)
    return row if row["status"] == "running" and row["progress"] > min_progress else None


def _abandoned_in_rq(app, job_id) -> str:
    """RQ's own verdict on a job whose worker died: in a FailedJobRegistry, with AbandonedJobError."""
    from rq.job import Job as RQJob
    from rq.serializers import JSONSerializer

    from webapp.redis_conn import get_redis

    with app.app_context():
        assert any(job_id in q.failed_job_registry.get_job_ids() for q in all_queues())
        return RQJob.fetch(job_id, connection=get_redis(), serializer=JSONSerializer).latest_result().exc_string


def _split_dataset(app, name="pets", per_class=12):
    root = make_dataset(Path(app.config["DATA_DIR"]) / name, {"猫": per_class, "dog": per_class}, coloured=True)
    split(root)
    return root


def test_worker_killed_mid_job_marks_the_job_failed(db_app):
    app = db_app
    job_id = enqueue_raw(app, "tests.web_support.slow_job", {"steps": 3000, "delay": 0.02})
    worker = start_worker_process(app)
    try:
        live = wait_for(lambda: _running(app, job_id, 0.001), timeout=60, what="the job to run")
        # Live progress lives in job.meta only: the database row keeps its start, not every step.
        stored = job_row(app, job_id)
        assert stored["status"] == "running" and stored["started_at"] and stored["progress"] == 0.0
        assert live["stage"] == "waiting" and any("started" in line for line in live["log"])
    finally:
        _kill_group(worker)
    with app.app_context():
        # Right after the kill RQ's last heartbeat still holds: the job is not declared dead too early.
        assert tasks.get_job(job_id).status == "running"
    ttl = app.config["JOB_HEARTBEAT_TTL"]
    with app.app_context():
        row = wait_for(lambda: (tasks.get_job(job_id) if tasks.get_job(job_id).status != "running" else None),
                       timeout=ttl * 4, what="reconciliation")
        assert row.status == "failed"
        assert row.error_code == "worker_lost"
        assert "killed or crashed" in row.error
        assert row.stage == "waiting" and 0 < row.progress < 1  # where it was, from its last job.meta
    assert "AbandonedJobError" in _abandoned_in_rq(app, job_id)


def test_training_killed_mid_way_registers_no_model(app):
    _split_dataset(app)
    with app.app_context():
        job_id = tasks.enqueue("train", {"dataset": "pets", **TINY_TRAIN, "epochs": 200}).id
    worker = start_worker_process(app)
    models = Path(app.config["MODEL_DIR"])
    try:
        wait_for(lambda: (row := _running(app, job_id)) and row["stage"] not in (None, "starting")
                 and any(models.glob(".partial-*")), timeout=120, what="training to start")
    finally:
        _kill_group(worker)
    with app.app_context():
        wait_for(lambda: tasks.get_job(job_id).status == "failed", timeout=app.config["JOB_HEARTBEAT_TTL"] * 4,
                 what="reconciliation")
        assert db.session.execute(db.select(ModelVersion)).first() is None
    # The half-written folder is removed once the job is known lost; no finished-looking model folder exists.
    assert list(models.iterdir()) == []
    assert "AbandonedJobError" in _abandoned_in_rq(app, job_id)


@pytest.mark.slow
def test_train_then_evaluate_jobs_register_a_complete_model(app, admin_client):
    _split_dataset(app)
    response = admin_client.post("/api/v1/jobs", json={"kind": "train", "params": {"dataset": "pets", **TINY_TRAIN}})
    assert response.status_code == 202, response.get_json()
    job_id = response.get_json()["job"]["id"]
    run_worker(app)
    job = admin_client.get(f"/api/v1/jobs/{job_id}").get_json()["job"]
    assert job["status"] == "finished", job
    assert job["params"]["device"] == "auto" and job["result"]["device"].startswith(("cpu (", "cuda (", "mps ("))
    assert any(f"device: {job['result']['device']}" in line for line in job["log"])
    model_id = job["result"]["model_id"]
    with app.app_context():
        row = db.session.get(ModelVersion, model_id)
        path = Path(row.path)
        assert path.is_file() and path.with_suffix(".onnx").is_file()
        assert not row.is_active  # a trained model waits for the admin to activate it
        assert set(row.classes) == {"dog", "猫"} and row.metrics["per_class"] and row.dataset_fingerprint
    assert not list(Path(app.config["MODEL_DIR"]).glob(".partial-*"))
    assert not [p for p in path.parent.rglob("*") if p.name == "cache" or p.suffix == ".npy"]  # no run cache kept
    assert [p for p in path.parent.rglob("*.pt")] == [path]  # the model file, no run checkpoint (best.pt, last.pt)
    page = admin_client.get("/admin/models").get_data(as_text=True)
    assert row.name in page and "confusion.png" in page
    picture = admin_client.get(f"/admin/models/{model_id}/confusion.png")
    assert picture.status_code == 200 and picture.data[:4] == b"\x89PNG"

    response = admin_client.post("/api/v1/jobs", json={"kind": "evaluate",
                                                       "params": {"model_id": model_id, "dataset": "pets"}})
    eval_id = response.get_json()["job"]["id"]
    run_worker(app)
    job = admin_client.get(f"/api/v1/jobs/{eval_id}").get_json()["job"]
    assert job["status"] == "finished", job
    assert 0.0 <= job["result"]["accuracy"] <= 1.0
    assert any("ECE" in line for line in job["log"])
    with app.app_context():
        assert "pets:test" in db.session.get(ModelVersion, model_id).metrics["evaluations"]


def test_train_job_on_a_missing_gpu_fails_with_a_clear_error(app, admin_client):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    _split_dataset(app)
    response = admin_client.post("/api/v1/jobs", json={"kind": "train",
                                                       "params": {"dataset": "pets", **TINY_TRAIN, "device": "cuda"}})
    assert response.status_code == 202, response.get_json()
    job_id = response.get_json()["job"]["id"]
    run_worker(app)
    job = admin_client.get(f"/api/v1/jobs/{job_id}").get_json()["job"]
    assert job["status"] == "failed" and job["error"]["code"] == "device_unavailable", job
    assert "CUDA was asked for" in job["error"]["message"]
    assert not list(Path(app.config["MODEL_DIR"]).glob(".partial-*"))
