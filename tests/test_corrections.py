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


RECIPE = {"arch": "resnet18", "pretrained": "none", "mode": "linear", "epochs": 3, "lr": 0.01, "batch_size": 8,
          "seed": 7, "image_size": 64, "label_smoothing": 0.0, "patience": 2}


def _trained_model(app, *, job_params=None, sidecar=None, name="made", active=False) -> int:
    """A model version made by a train job with `job_params` (or by none), with `sidecar` as its <stem>.json."""
    import json
    import uuid

    from webapp.extensions import db
    from webapp.models import Job, ModelVersion

    with app.app_context():
        job_id = None
        if job_params is not None:
            job = Job(id=uuid.uuid4().hex, kind="train", queue="train", params=job_params, status="finished", log="")
            db.session.add(job)
            job_id = job.id
        path = Path(app.instance_path) / f"{name}.pt"
        if sidecar is not None:
            path.with_suffix(".json").write_text(json.dumps(sidecar), encoding="utf-8")
        row = ModelVersion(name=name, path=str(path), classes=["cat", "dog"], job_id=job_id, is_active=active)
        db.session.add(row)
        db.session.commit()
        return row.id


def _train_params(admin_client) -> tuple[dict, str]:
    """The queued training's params, and the flash the retrain answered with."""
    queued = [j for j in admin_client.get("/api/v1/jobs").get_json()["jobs"]
              if j["kind"] == "train" and j["status"] != "finished"]  # not the finished job that made the model
    assert len(queued) == 1, queued
    page = admin_client.get("/admin/?lang=en").get_data(as_text=True)
    return queued[0]["params"], page


def test_retrain_from_a_model_page_reuses_the_recipe_of_its_training_job(app, admin_client):
    _dataset(app)
    model_id = _trained_model(app, job_params={"dataset": "pets", **RECIPE, "device": "cuda"})
    page = admin_client.get(f"/admin/models/{model_id}").get_data(as_text=True)
    assert f'name="model_id" value="{model_id}"' in page and "arch=resnet18" in page
    response = admin_client.post("/admin/corrections/retrain?lang=en", data={"dataset": "pets", "model_id": str(model_id)})
    assert response.status_code == 302
    params, flashed = _train_params(admin_client)
    assert params == {"dataset": "pets", **RECIPE, "device": "auto"}  # asked for cuda; the new run picks its own
    assert "with the recipe of model made" in flashed


def test_retrain_reads_the_recipe_from_the_model_metadata_without_its_job(app, admin_client):
    _dataset(app)
    # What training writes beside the model: the resolved config, with settings no form may set.
    ran = {**RECIPE, "device": "cuda", "optimizer": "adam", "name": "made", "weights_file": None}
    model_id = _trained_model(app, sidecar={"train_config": ran})
    admin_client.post("/admin/corrections/retrain?lang=en", data={"dataset": "pets", "model_id": str(model_id)})
    params, _flashed = _train_params(admin_client)
    assert params == {"dataset": "pets", **RECIPE, "device": "auto"}  # where it ran is not a recipe


def test_retrain_from_a_model_without_a_recipe_says_it_uses_the_default(app, admin_client):
    from ml.operations import TrainConfig

    _dataset(app)
    model_id = _trained_model(app, sidecar={"train_config": {"arch": "no-such-arch"}})  # refused: counts as none
    page = admin_client.get(f"/admin/models/{model_id}?lang=en").get_data(as_text=True)
    assert "this model has no recorded recipe" in page
    assert "这个模型没有记录配方" in admin_client.get(f"/admin/models/{model_id}?lang=zh").get_data(as_text=True)
    admin_client.post("/admin/corrections/retrain?lang=en", data={"dataset": "pets", "model_id": str(model_id)})
    params, flashed = _train_params(admin_client)
    defaults = TrainConfig()
    assert params == {"dataset": "pets", **{s.name: getattr(defaults, s.name) for s in TrainConfig.web_settings()}}
    assert "with the default recipe, as model made has no recorded recipe" in flashed


def test_retrain_from_the_queue_uses_the_active_model_recipe_only_for_its_dataset(app, admin_client):
    _dataset(app)
    (Path(app.config["DATA_DIR"]) / "birds" / "owl").mkdir(parents=True)
    _trained_model(app, job_params={"dataset": "pets", **RECIPE}, active=True)
    admin_client.post("/admin/corrections/retrain?lang=en", data={"dataset": "pets"})
    params, flashed = _train_params(admin_client)
    assert params == {"dataset": "pets", **RECIPE, "device": "auto"} and "with the recipe of model made" in flashed
    admin_client.post("/admin/corrections/retrain?lang=zh", data={"dataset": "birds"})
    jobs = [j for j in admin_client.get("/api/v1/jobs").get_json()["jobs"] if j["kind"] == "train"]
    birds = next(j for j in jobs if j["params"]["dataset"] == "birds")
    assert birds["params"]["arch"] != "resnet18"  # the default recipe: the active model learnt another dataset
    assert "使用默认配方：先划分" in admin_client.get("/admin/?lang=zh").get_data(as_text=True)


def test_a_split_cancelled_while_running_does_not_start_the_training_after_it(app):
    """A cancelled job returns normally, so RQ would start its dependents: the end hook cancels them first."""
    from tests.web_support import enqueue_raw, job_row, run_worker
    from webapp import tasks
    from webapp.redis_conn import get_redis

    (Path(app.config["DATA_DIR"]) / "pets").mkdir(parents=True)
    split_id = enqueue_raw(app, "tests.web_support.slow_job", {"steps": 50, "delay": 0.01})
    with app.app_context():
        train_id = tasks.enqueue("train", {"dataset": "pets"}, depends_on=split_id).id
        get_redis().set(tasks.cancel_key(split_id), "1")  # Cancel pressed: the running split stops at its next step
    run_worker(app)  # burst: would also run the training, had RQ enqueued it
    assert job_row(app, split_id)["status"] == "cancelled"
    train = job_row(app, train_id)
    assert train["status"] == "failed" and train["started_at"] is None
    assert train["error"]["message"] == "The split it waited for was cancelled, so this training did not start."
    assert _deferred_ids(app) == set()
