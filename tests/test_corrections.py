"""Corrections: a visitor's "wrong? tell us" with no login, rate limits, the admin queue, accept and reject."""

from __future__ import annotations

import io
from pathlib import Path

from tests.conftest import make_app
from tests.imagegen import encode, shapes


def _model(app, classes=("cat", "dog")) -> int:
    from webapp.extensions import db
    from webapp.models import ModelVersion

    with app.app_context():
        row = ModelVersion(name="m", path=str(Path(app.instance_path) / f"m{len(classes)}.pt"), classes=list(classes))
        db.session.add(row)
        db.session.commit()
        return row.id


def _send(client, model_id, label="dog", data=None, predicted="cat"):
    data = data if data is not None else encode(shapes(3, (120, 90)))
    return client.post("/api/v1/corrections", content_type="multipart/form-data",
                       data={"file": (io.BytesIO(data), "p.jpg"), "label": label, "model_id": str(model_id),
                             "predicted": predicted})


def _rows(app):
    from webapp.extensions import db
    from webapp.models import Correction

    with app.app_context():
        return [(r.id, r.status, r.chosen_label, r.predicted_label, r.dataset_path)
                for r in db.session.execute(db.select(Correction).order_by(Correction.id)).scalars()]


def test_correction_without_login_is_stored_pending_with_its_picture(app, client):
    model_id = _model(app)
    response = _send(client, model_id)
    assert response.status_code == 201, response.get_json()
    cid = response.get_json()["correction"]["id"]
    assert _rows(app) == [(cid, "pending", "dog", "cat", None)]
    stored = Path(app.config["CORRECTIONS_DIR"]) / f"{cid}.jpg"
    from PIL import Image

    with Image.open(stored) as img:
        assert img.format == "JPEG" and img.size == (120, 90)


def test_correction_with_a_class_the_model_lacks_is_refused(app, client):
    model_id = _model(app)
    response = _send(client, model_id, label="horse")
    assert response.status_code == 400 and response.get_json()["error"]["code"] == "bad_class"
    assert _rows(app) == [] and not any(Path(app.config["CORRECTIONS_DIR"]).glob("*"))


def test_correction_that_is_not_a_picture_is_refused(app, client):
    model_id = _model(app)
    response = _send(client, model_id, data=b"<html>not a picture</html>")
    assert response.status_code == 400 and response.get_json()["error"]["code"] == "not_image"
    assert _rows(app) == []


def test_corrections_over_the_limit_answer_429_with_a_message(tmp_path, embedded_redis):
    app = make_app(tmp_path, redis=embedded_redis, RATELIMIT_ENABLED=True, RATELIMIT_CORRECTIONS="2 per hour")
    model_id = _model(app)
    client = app.test_client()
    codes = [_send(client, model_id).status_code for _ in range(3)]
    assert codes == [201, 201, 429]
    body = _send(client, model_id).get_json()
    assert body["error"]["code"] == "rate_limited" and "Too many requests" in body["error"]["message"]
    assert len(_rows(app)) == 2


def test_pending_queue_is_bounded(tmp_path, embedded_redis):
    app = make_app(tmp_path, redis=embedded_redis, CORRECTIONS_MAX_PENDING=1)
    model_id = _model(app)
    client = app.test_client()
    assert _send(client, model_id).status_code == 201
    response = _send(client, model_id)
    assert response.status_code == 503 and response.get_json()["error"]["code"] == "queue_full"


def test_anonymous_visitor_cannot_see_the_queue_or_pictures(app, client):
    cid = _send(client, _model(app)).get_json()["correction"]["id"]
    for url in ("/admin/corrections", f"/admin/corrections/{cid}/picture.jpg"):
        response = client.get(url, headers={"Accept": "application/json"})
        assert response.status_code == 401, url
    assert client.post(f"/admin/corrections/{cid}/accept", data={"dataset": "pets"}).status_code in (400, 401, 302)
    assert _rows(app)[0][1] == "pending"


def _dataset(app, classes=("cat", "dog")) -> Path:
    root = Path(app.config["DATA_DIR"]) / "pets"
    for i, cls in enumerate(classes):
        (root / cls).mkdir(parents=True)
        (root / cls / "a.jpg").write_bytes(encode(shapes(i)))
    return root


def test_admin_accept_puts_the_picture_into_the_class_folder(app, client, admin_client):
    root = _dataset(app)
    cid = _send(client, _model(app)).get_json()["correction"]["id"]
    page = admin_client.get("/admin/corrections").get_data(as_text=True)
    assert f'data-correction-id="{cid}"' in page and f"/admin/corrections/{cid}/picture.jpg" in page
    assert admin_client.get(f"/admin/corrections/{cid}/picture.jpg").mimetype == "image/jpeg"
    response = admin_client.post(f"/admin/corrections/{cid}/accept", data={"dataset": "pets"})
    assert response.status_code == 302
    added = root / "dog" / f"correction-{cid}.jpg"
    assert added.is_file() and sorted(p.name for p in (root / "dog").iterdir()) == ["a.jpg", added.name]
    assert _rows(app) == [(cid, "accepted", "dog", "cat", f"pets/dog/{added.name}")]
    assert not (Path(app.config["CORRECTIONS_DIR"]) / f"{cid}.jpg").exists()
    log = (root / ".trash" / "edits.jsonl").read_text(encoding="utf-8")
    assert f'"original": "correction {cid}"' in log and '"user": "admin"' in log
    again = admin_client.post(f"/admin/corrections/{cid}/accept", data={"dataset": "pets"}, follow_redirects=True)
    assert "already accepted" in again.get_data(as_text=True)


def test_accept_into_a_dataset_without_that_class_is_refused(app, client, admin_client):
    root = _dataset(app, classes=("cat",))
    cid = _send(client, _model(app)).get_json()["correction"]["id"]
    page = admin_client.post(f"/admin/corrections/{cid}/accept", data={"dataset": "pets"}, follow_redirects=True)
    assert "No class named" in page.get_data(as_text=True)
    assert _rows(app)[0][1] == "pending" and sorted(p.name for p in root.rglob("*.jpg")) == ["a.jpg"]


def test_admin_reject_keeps_nothing_in_the_dataset(app, client, admin_client):
    root = _dataset(app)
    before = sorted(p.relative_to(root).as_posix() for p in root.rglob("*"))
    cid = _send(client, _model(app)).get_json()["correction"]["id"]
    assert admin_client.post(f"/admin/corrections/{cid}/reject").status_code == 302
    assert _rows(app)[0][1] == "rejected"
    assert sorted(p.relative_to(root).as_posix() for p in root.rglob("*")) == before
    assert not any(Path(app.config["CORRECTIONS_DIR"]).glob("*.jpg"))
    assert 'id="no-corrections"' in admin_client.get("/admin/corrections").get_data(as_text=True)


def test_retrain_with_corrections_queues_split_then_train(app, admin_client):
    from rq.job import Job as RQJob
    from rq.serializers import JSONSerializer

    from webapp.redis_conn import get_redis

    _dataset(app)
    response = admin_client.post("/admin/corrections/retrain", data={"dataset": "pets"})
    assert response.status_code == 302
    jobs = admin_client.get("/api/v1/jobs").get_json()["jobs"]
    by_kind = {j["kind"]: j for j in jobs}
    assert set(by_kind) == {"split", "train"} and by_kind["train"]["params"]["dataset"] == "pets"
    with app.app_context():
        train = RQJob.fetch(by_kind["train"]["id"], connection=get_redis(), serializer=JSONSerializer)
        assert train.get_status() == "deferred"
        assert [d.decode() if isinstance(d, bytes) else d for d in train._dependency_ids] == [by_kind["split"]["id"]]


def test_queue_page_in_chinese(app, client, admin_client):
    _send(client, _model(app))
    page = admin_client.get("/admin/corrections", headers={"Accept-Language": "zh-CN"}).get_data(as_text=True)
    assert "用纠错重新训练" in page and "等待审核" in page and "拒绝" in page



def _deferred_ids(app) -> set[str]:
    from webapp.redis_conn import all_queues

    with app.app_context():
        return {job_id for q in all_queues() for job_id in q.deferred_job_registry.get_job_ids()}


WAITED_IN_VAIN = "The split it waited for failed, so this training did not start."


def test_retrain_whose_split_fails_leaves_the_training_failed_not_queued(app, admin_client):
    from tests.web_support import job_row, run_worker

    (Path(app.config["DATA_DIR"]) / "empty").mkdir(parents=True)  # nothing to split: the split job fails
    assert admin_client.post("/admin/corrections/retrain", data={"dataset": "empty"}).status_code == 302
    by_kind = {j["kind"]: j for j in admin_client.get("/api/v1/jobs").get_json()["jobs"]}
    assert by_kind["train"]["status"] == "queued" and by_kind["train"]["id"] in _deferred_ids(app)
    run_worker(app)
    # The split's end hook failed the training at once (the row, before any page reconciles it).
    assert job_row(app, by_kind["train"]["id"])["error"] == {"code": "dependency_failed", "message": WAITED_IN_VAIN}
    jobs = {j["kind"]: j for j in admin_client.get("/api/v1/jobs").get_json()["jobs"]}
    assert jobs["split"]["status"] == "failed"
    assert jobs["train"]["status"] == "failed", jobs["train"]
    assert jobs["train"]["error"] == {"code": "dependency_failed", "message": WAITED_IN_VAIN}
    assert _deferred_ids(app) == set()
    page = admin_client.get(f"/admin/jobs/{jobs['train']['id']}").get_data(as_text=True)
    assert WAITED_IN_VAIN in page


def test_reconcile_fails_a_training_left_deferred_behind_a_failed_job(app):
    """A split that fails without its end hook (here: RQ cannot even import it) is found by reconcile."""
    from tests.web_support import enqueue_raw, job_state, run_worker
    from webapp import tasks

    (Path(app.config["DATA_DIR"]) / "pets").mkdir(parents=True)
    split_id = enqueue_raw(app, "tests.web_support.no_such_job", {})
    with app.app_context():
        train_id = tasks.enqueue("train", {"dataset": "pets"}, depends_on=split_id).id
    run_worker(app)
    assert train_id in _deferred_ids(app)  # RQ's own behaviour: the dependent stays deferred
    state = job_state(app, train_id)
    assert state["status"] == "failed" and state["error"] == {"code": "dependency_failed", "message": WAITED_IN_VAIN}
    assert _deferred_ids(app) == set()
