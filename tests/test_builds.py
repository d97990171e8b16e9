"""The guided builder: one declaration, a pipeline of the existing jobs, run by a real RQ worker.

Against the fake Baidu (tests/fakebaidu.py) over loopback, with a tiny 32 px training recipe.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ml.errors import MLError
from ml.operations import BuildRequest, TrainConfig
from tests.conftest import TINY_TRAIN, app_on
from tests.fakebaidu import start_fake_baidu
from tests.web_support import run_worker
from webapp import builds
from webapp.extensions import db
from webapp.models import Build, Job, ModelVersion

CLASSES = [{"name": "猫", "keywords": "猫, 小猫", "display": {"en": "cat"}},
           {"name": "dog", "keywords": ["狗"], "display": {"zh": "狗", "en": "dog"}}]


@pytest.fixture
def fake():
    server = start_fake_baidu(total=40, bad={})
    yield server
    server.stop()


CRAWL = {"page_delay": 0, "backoff": 0.01, "workers": 4, "allow_networks": ["127.0.0.0/8"]}
#: The review step's suspects job: small pictures and features (seconds on one core).
REVIEW = {"backbone": "efficientnet_lite0", "image_size": 64}


@pytest.fixture
def app(tmp_path, embedded_redis, fake):
    """The app on SQLite, crawling from the fake Baidu."""
    yield from app_on("sqlite", tmp_path, embedded_redis, CRAWL_BASE_URL=fake.base_url, CRAWL_OPTIONS=CRAWL,
                      REVIEW_OPTIONS=REVIEW)


@pytest.fixture(params=["sqlite", "postgresql"])
def db_app(request, tmp_path, embedded_redis, fake):
    """The app on SQLite, then on PostgreSQL (a schema of its own) when it answers: the steps are JSON that changes."""
    yield from app_on(request.param, tmp_path, embedded_redis, CRAWL_BASE_URL=fake.base_url, CRAWL_OPTIONS=CRAWL,
                      REVIEW_OPTIONS=REVIEW)


@pytest.fixture
def db_admin(db_app):
    """An administrator's client on `db_app`."""
    from tests.conftest import CSRFClient, create_admin, login

    create_admin(db_app)
    db_app.test_client_class = CSRFClient
    client = db_app.test_client()
    assert login(client).status_code == 302
    return client


def _request(**extra) -> dict:
    return {"dataset": "pets", "classes": CLASSES, "per_class": 8, "recipe": dict(TINY_TRAIN), **extra}


def _steps(app, build_id: int) -> dict[str, str]:
    with app.app_context():
        db.session.expire_all()
        return {s["name"]: s["status"] for s in builds.get_build(build_id).steps}


# -- the declaration --------------------------------------------------------------------------------
def test_the_declaration_fills_the_recipe_and_keeps_unicode_class_names():
    request = BuildRequest.from_dict(_request(recipe={})).validate()
    assert request.class_names() == ["猫", "dog"]
    assert request.classes[0]["keywords"] == ["猫", "小猫"]
    assert request.recipe == {s.name: s.default for s in TrainConfig.web_settings()}  # the recommended recipe
    # display names follow the training order (code point order: dog before 猫); a missing one is the folder name
    assert request.display_names() == {"zh": ["狗", "猫"], "en": ["dog", "cat"]}
    assert [c.class_name for c in request.crawl_requests()] == ["猫", "dog"]


@pytest.mark.parametrize("change, message", [
    ({"classes": CLASSES[:1]}, "at least two classes"),
    ({"classes": [CLASSES[0], {"name": "猫"}]}, "given twice"),
    ({"classes": [CLASSES[0], {"name": "__dog"}]}, "not a valid name"),
    ({"dataset": ".hidden"}, "not a valid name"),
    ({"recipe": {"arch": "vgg99"}}, "Bad setting arch"),
    ({"recipe": {"weights_file": "/etc/passwd"}}, "Not settable from the web: weights_file"),
    ({"per_class": 0}, "Bad setting per_class"),
])
def test_the_declaration_refuses_a_bad_build(change, message):
    with pytest.raises(MLError, match=message):
        BuildRequest.from_dict(_request(**change), web=True).validate()


# -- the pipeline -----------------------------------------------------------------------------------
@pytest.mark.slow
def test_a_build_of_two_classes_runs_through_to_a_model_and_activates_on_confirmation(app, admin_client):
    response = admin_client.post("/api/v1/builds", json=_request(skip_review=True))
    assert response.status_code == 202, response.get_json()
    view = response.get_json()["build"]
    assert [s["name"] for s in view["steps"]] == ["crawl", "scan", "review", "split", "train", "evaluate", "activate"]
    assert [s["status"] for s in view["steps"]][:4] == ["running", "pending", "skipped", "skipped"]
    crawl_jobs = view["steps"][0]["jobs"]
    assert len(crawl_jobs) == 1  # one job crawls every class at once (one worker is enough)
    with app.app_context():
        crawl_job = db.session.get(Job, crawl_jobs[0])
        assert crawl_job.kind == "crawl_classes"
        assert [c["class_name"] for c in crawl_job.params["classes"]] == ["猫", "dog"]
    run_worker(app)  # each job's end starts the next step: crawl → scan → train → evaluate
    view = admin_client.get(f"/api/v1/builds/{view['id']}").get_json()["build"]
    assert view["status"] == "waiting", view
    statuses = {s["name"]: s["status"] for s in view["steps"]}
    assert statuses == {"crawl": "finished", "scan": "finished", "review": "skipped", "split": "skipped",
                        "train": "finished", "evaluate": "finished", "activate": "waiting"}
    crawl = view["steps"][0]["counts"]
    assert crawl["classes"] == {"猫": 8, "dog": 8} and crawl["pictures"] == 16 and crawl["target"] == 16
    assert all(s["elapsed_s"] is not None for s in view["steps"] if s["status"] == "finished")
    with app.app_context():
        model = db.session.get(ModelVersion, view["model_id"])
        assert set(model.classes) == {"猫", "dog"} and not model.is_active
        assert "pets:test" in model.metrics["evaluations"]
        train = db.session.get(Job, view["steps"][4]["jobs"][0])
        assert train.params["display_names"] == {"zh": ["狗", "猫"], "en": ["dog", "cat"]}
        assert train.params["arch"] == "resnet18" and train.params["epochs"] == 1
        kinds = db.session.execute(db.select(Job.kind)).scalars().all()
        assert "review" not in kinds and "crawl_classes" in kinds  # skip_review: no search for suspects either
        from ml.operations.export import onnx_paths

        sidecar = json.loads(onnx_paths(model.path)[1].read_text(encoding="utf-8"))  # what the served model says
        assert sidecar["classes"] == ["dog", "猫"] and sidecar["display_names"] == {"zh": ["狗", "猫"], "en": ["dog", "cat"]}
    page = admin_client.get(f"/admin/builds/{view['id']}").get_data(as_text=True)
    assert 'id="build-activate"' in page and 'data-step="activate" data-status="waiting"' in page
    response = admin_client.post(f"/admin/builds/{view['id']}/activate")
    assert response.status_code == 302
    view = admin_client.get(f"/api/v1/builds/{view['id']}").get_json()["build"]
    assert view["status"] == "finished" and view["finished_at"]
    with app.app_context():
        assert db.session.get(ModelVersion, view["model_id"]).is_active
        from webapp.models import Activation

        switch = db.session.execute(db.select(Activation)).scalar_one()  # in the activation history, as the admin's
        assert switch.model_version_id == view["model_id"] and switch.via == "admin" and switch.user.username == "admin"


def test_a_build_waits_for_the_review_then_continues(db_app, db_admin):
    app, admin_client = db_app, db_admin
    build_id = admin_client.post("/api/v1/builds", json=_request()).get_json()["build"]["id"]
    run_worker(app)
    assert _steps(app, build_id) == {"crawl": "finished", "scan": "finished", "review": "waiting",
                                     "split": "pending", "train": "pending", "evaluate": "pending",
                                     "activate": "pending"}
    with app.app_context():  # the review step queued the suspects job: the review page has them when the person comes
        review = builds.get_build(build_id).steps[2]
        job = db.session.get(Job, review["jobs"][0])
        assert job.kind == "review" and job.status == "finished" and job.params["dataset"] == "pets"
        assert review["counts"]["checked"] == 16 and review["counts"]["suspects"] is not None
        assert (Path(app.config["DATA_DIR"]) / "pets" / ".review" / "suspects.json").is_file()
    page = admin_client.get(f"/admin/builds/{build_id}").get_data(as_text=True)
    assert f"/datasets/pets/review?next=/admin/builds/{build_id}/continue" in page
    assert "可疑图片：" in page and 'id="build-review-hint"' in page  # the page is in Chinese by default
    # the review page's Continue link (a GET) comes back to the timeline's button; only the POST goes on
    back = admin_client.get(f"/admin/builds/{build_id}/continue")
    assert back.status_code == 302 and back.headers["Location"].endswith(f"/admin/builds/{build_id}#step-review")
    assert _steps(app, build_id)["review"] == "waiting"
    with app.app_context():  # what a reviewer does: throw a picture away
        first = sorted((Path(app.config["DATA_DIR"]) / "pets" / "dog").glob("*.jpg"))[0]
        first.unlink()
    response = admin_client.post(f"/api/v1/builds/{build_id}/continue")
    assert response.status_code == 200, response.get_json()
    steps = {s["name"]: s for s in response.get_json()["build"]["steps"]}
    assert steps["review"]["status"] == "finished" and steps["split"]["status"] == "running"
    assert steps["split"]["jobs"] != steps["scan"]["jobs"]  # a split of its own, after the review's changes
    with app.app_context():
        assert db.session.get(Job, steps["split"]["jobs"][0]).kind == "split"
    with app.app_context():
        db.session.expire_all()
        build = db.session.get(Build, build_id)
        # stop before training: the point here is the split after the review
        builds.cancel(build_id)
        assert build.status == "cancelled"


def test_done_reviewing_on_the_review_page_continues_the_build_without_a_second_click(app, admin_client):
    build_id = admin_client.post("/api/v1/builds", json=_request()).get_json()["build"]["id"]
    run_worker(app)
    assert _steps(app, build_id)["review"] == "waiting"
    review = admin_client.get(f"/datasets/pets/review?lang=en&next=/admin/builds/{build_id}/continue").get_data(as_text=True)
    assert "Done reviewing" in review
    done = admin_client.post("/datasets/pets/review/done", data={"next": f"/admin/builds/{build_id}/continue"})
    assert done.status_code == 303 and done.headers["Location"].endswith(f"/admin/builds/{build_id}/continue")
    back = admin_client.get(done.headers["Location"] + "?lang=en", follow_redirects=True)
    assert "Review done: the build goes on." in back.get_data(as_text=True)
    steps = _steps(app, build_id)
    assert steps["review"] == "finished" and steps["split"] == "running"
    with app.app_context():
        builds.cancel(build_id)  # the split after the review is the point; no training here


def test_a_done_from_an_earlier_review_does_not_continue_a_new_build(app, admin_client):
    from ml.review import read_decisions

    root = Path(app.config["DATA_DIR"]) / "pets"
    (root / ".review").mkdir(parents=True)
    (root / ".review" / "decisions.json").write_text(json.dumps({"done": {"time": "2020-01-01T00:00:00+00:00"}}))
    assert read_decisions(root)["done"]
    build_id = admin_client.post("/api/v1/builds", json=_request()).get_json()["build"]["id"]
    run_worker(app)
    assert _steps(app, build_id)["review"] == "waiting"
    back = admin_client.get(f"/admin/builds/{build_id}/continue?lang=en", follow_redirects=True).get_data(as_text=True)
    assert "The review is not marked done" in back and _steps(app, build_id)["review"] == "waiting"


def test_the_timeline_estimates_the_rest_of_the_whole_build(app, admin_client):
    build_id = admin_client.post("/api/v1/builds", json=_request()).get_json()["build"]["id"]
    estimate = admin_client.get(f"/api/v1/builds/{build_id}").get_json()["build"]["estimate"]
    assert "crawl" in estimate["unknown"] and "train" in estimate["unknown"]  # nothing measured yet
    run_worker(app)
    view = admin_client.get(f"/api/v1/builds/{build_id}").get_json()["build"]
    estimate = view["estimate"]
    scan = view["steps"][1]
    # waiting at the review: the split again at the scan's measured pace, the evaluation at its per-picture
    # estimate; training is not measured before it starts, the person's time is never counted
    split = scan["elapsed_s"] / 16 * 16
    assert estimate["unknown"] == ["train"] and estimate["not_counted"] == ["review", "activate"]
    assert estimate["remaining_s"] == pytest.approx(split + 16 * 0.2 * builds.EVALUATE_SECONDS_PER_PICTURE, abs=0.2)
    en = admin_client.get(f"/admin/builds/{build_id}?lang=en").get_data(as_text=True)
    assert 'id="build-estimate"' in en and "The rest of the build, estimated" in en
    assert "training is counted once it starts" in en and "review and confirm is not counted" in en
    zh = admin_client.get(f"/admin/builds/{build_id}?lang=zh").get_data(as_text=True)
    assert "构建剩余时间（估计）" in zh
    with app.app_context():
        builds.cancel(build_id)
    assert admin_client.get(f"/api/v1/builds/{build_id}").get_json()["build"]["estimate"] is None  # ended


def test_the_crawl_estimate_is_the_pictures_left_at_the_pace_so_far():
    view = {"counts": {"pictures": 10, "target": 40}, "elapsed_s": 5.0, "remaining_s": 99.0}
    assert builds._crawl_left(view) == pytest.approx(15.0)  # 30 pictures at 2 a second
    assert builds._crawl_left({**view, "counts": {"pictures": 0, "target": 40}}) == 99.0  # the jobs' own progress
    assert builds._crawl_left({**view, "counts": {"pictures": 40, "target": 40}}) == 0.0


def test_a_running_trainings_own_eta_reaches_the_live_state(app):
    from rq.job import Job as RQJob
    from rq.serializers import JSONSerializer

    from webapp import tasks
    from webapp.redis_conn import get_redis

    with app.app_context():
        job = RQJob.create("jobs.train.run", connection=get_redis(), serializer=JSONSerializer,
                           meta={"progress": {"stage": "train", "fraction": 0.5, "info": {"epoch": 2, "eta_s": 42.5}}})
        assert tasks._live(job)["eta_s"] == 42.5 and tasks._live(job)["stage"] == "train"
        job.meta["progress"]["info"] = {}
        assert tasks._live(job)["eta_s"] is None


def test_after_activation_the_timeline_offers_retrain_with_corrections(app, admin_client):
    from datetime import timedelta

    from webapp.models import Correction, utcnow

    made = utcnow() - timedelta(hours=1)
    with app.app_context():  # a build that ran to the end: its model made an hour ago, then activated
        for cls in ("dog", "猫"):
            (Path(app.config["DATA_DIR"]) / "pets" / cls).mkdir(parents=True)
        model = ModelVersion(name="pets", path=str(Path(app.config["MODEL_DIR"]) / "m1" / "model.pt"), arch="resnet18",
                             classes=["dog", "猫"], created_at=made, is_active=True)
        db.session.add(model)
        db.session.flush()
        steps = [{**builds._new_step(name, "finished"), "started_at": made.isoformat(), "finished_at": made.isoformat()}
                 for name in ("crawl", "scan", "review", "split", "train", "evaluate", "activate")]
        db.session.add(Build(dataset="pets", status="finished", request=_request(), steps=steps, model_id=model.id,
                             finished_at=made))
        db.session.commit()
    page = admin_client.get("/admin/builds/1?lang=en").get_data(as_text=True)
    assert 'id="build-retrain"' not in page  # no accepted correction yet: nothing to retrain with
    with app.app_context():
        db.session.add(Correction(chosen_label="猫", status="accepted", dataset_path="pets/猫/c1.jpg", decided_at=utcnow()))
        db.session.add(Correction(chosen_label="dog", status="pending"))
        db.session.add(Correction(chosen_label="dog", status="accepted", dataset_path="zoo/dog/c2.jpg", decided_at=utcnow()))
        db.session.commit()
    page = admin_client.get("/admin/builds/1?lang=en").get_data(as_text=True)
    assert 'id="build-retrain"' in page and "1 accepted corrections went into dataset pets" in page
    assert 'action="/admin/corrections/retrain"' in page and 'name="dataset" value="pets"' in page
    assert 'name="model_id" value="1"' in page and "this model has no recorded recipe" in page
    response = admin_client.post("/admin/corrections/retrain", data={"dataset": "pets", "model_id": "1"})
    assert response.status_code == 302
    flashed = admin_client.get("/admin/?lang=en").get_data(as_text=True)
    assert "with the default recipe, as model pets has no recorded recipe" in flashed
    with app.app_context():
        jobs = db.session.execute(db.select(Job).order_by(Job.created_at)).scalars().all()
        assert [(j.kind, j.params["dataset"]) for j in jobs] == [("split", "pets"), ("train", "pets")]
        build = db.session.get(Build, 1)
        build.steps = [*build.steps[:-1], {**build.steps[-1], "status": "waiting"}]
        db.session.commit()
    page = admin_client.get("/admin/builds/1?lang=en").get_data(as_text=True)
    assert 'id="build-retrain"' not in page  # before the model is activated, the offer is not made


def test_a_failed_step_is_retried_without_redoing_the_finished_ones(db_app, db_admin, fake):
    app, admin_client = db_app, db_admin
    fake.options.block_after = 1  # the first class's search is answered, then Baidu blocks us
    build_id = admin_client.post("/api/v1/builds", json=_request()).get_json()["build"]["id"]
    run_worker(app)
    with app.app_context():
        build = builds.get_build(build_id)
        assert build.status == "failed", build.steps
        crawl = build.steps[0]
        (failed,) = crawl["jobs"]
        assert crawl["status"] == "failed" and db.session.get(Job, failed).status == "failed"
        # the other class finished beside the blocked one; the timeline counts what each folder holds
        assert sorted(crawl["counts"]["classes"].values()) == [0, 8]
        assert build.error and build.steps[1]["status"] == "pending"
        blocked = next(name for name, n in crawl["counts"]["classes"].items() if n == 0)
    page = admin_client.get(f"/admin/builds/{build_id}").get_data(as_text=True)
    assert 'id="build-retry"' in page and 'id="build-cancel"' not in page
    fake.options.block_after = None
    searches = fake.searches_served
    assert admin_client.post(f"/admin/builds/{build_id}/retry").status_code == 302
    run_worker(app)
    with app.app_context():
        db.session.expire_all()
        build = builds.get_build(build_id)
        assert build.status == "waiting" and build.steps[1]["status"] == "finished"  # scanned, waits for the review
        (again,) = build.steps[0]["jobs"]
        row = db.session.get(Job, again)
        assert row.retry_of == failed and [c["class_name"] for c in row.params["classes"]] == [blocked]
        assert build.steps[0]["counts"]["classes"] == {"猫": 8, "dog": 8}
    assert fake.searches_served == searches + 1  # one class searched again, not both


def test_cancel_stops_the_build_at_its_current_step(app, admin_client):
    build_id = admin_client.post("/api/v1/builds", json=_request()).get_json()["build"]["id"]
    response = admin_client.post(f"/admin/builds/{build_id}/cancel")  # before any worker took the crawls
    assert response.status_code == 302
    run_worker(app)  # nothing left to run
    with app.app_context():
        db.session.expire_all()
        build = builds.get_build(build_id)
        assert build.status == "cancelled" and build.steps[0]["status"] == "cancelled"
        assert [db.session.get(Job, j).status for j in build.steps[0]["jobs"]] == ["cancelled"]
        assert build.steps[1]["status"] == "pending"
    assert not list((Path(app.config["DATA_DIR"])).glob("pets/*/*.jpg"))
    # a cancelled build can go on from where it stopped
    assert admin_client.post(f"/api/v1/builds/{build_id}/retry").status_code == 200
    run_worker(app)
    assert _steps(app, build_id)["review"] == "waiting"


def test_a_second_build_on_a_busy_dataset_or_one_with_other_classes_is_refused(app, admin_client):
    assert admin_client.post("/api/v1/builds", json=_request()).status_code == 202
    again = admin_client.post("/api/v1/builds", json=_request())
    assert again.status_code == 409 and "still working" in again.get_json()["error"]["message"]
    (Path(app.config["DATA_DIR"]) / "zoo" / "horse").mkdir(parents=True)
    other = admin_client.post("/api/v1/builds", json=_request(dataset="zoo"))
    assert other.status_code == 400 and "horse" in other.get_json()["error"]["message"]
    bad = admin_client.post("/api/v1/builds", json=_request(recipe={"arch": "vgg99"}))
    assert bad.status_code == 400 and "arch" in bad.get_json()["error"]["message"]
    with app.app_context():
        assert db.session.execute(db.select(db.func.count()).select_from(Build)).scalar() == 1


def test_the_api_and_the_pages_need_an_administrator(app, client):
    response = client.post("/api/v1/builds", json=_request())
    assert response.status_code in (400, 401) and response.get_json()["error"]["code"] in ("unauthorized", "csrf_failed")
    assert client.get("/api/v1/builds/1").status_code == 401
    assert client.get("/admin/build").status_code in (302, 401)
    with app.app_context():
        assert db.session.execute(db.select(Build)).first() is None


# -- the CLI ----------------------------------------------------------------------------------------
def test_flask_build_creates_the_same_build_and_waits_for_the_review(app):
    from tests.web_support import start_worker_process

    worker = start_worker_process(app)
    try:
        result = app.test_cli_runner().invoke(args=[
            "build", "--dataset", "pets", "--class", "猫=猫,小猫", "--class", "dog=狗", "--display", "猫=en:cat,zh:家猫",
            "--per-class", "8", "--arch", "resnet18", "--epochs", "1", "--wait", "--poll", "0.3"])
    finally:
        worker.terminate()
        worker.wait(timeout=20)
    assert result.exit_code == 0, result.output
    assert "Build 1 started on dataset 'pets'" in result.output
    assert "crawl: running" in result.output and "waits for the review step" in result.output
    with app.app_context():
        build = db.session.get(Build, 1)
        assert build.status == "waiting"
        request = BuildRequest.from_dict(build.request).validate()
        assert request.classes == [{"name": "猫", "keywords": ["猫", "小猫"], "display": {"en": "cat", "zh": "家猫"}},
                                   {"name": "dog", "keywords": ["狗"], "display": {}}]
        assert request.recipe["arch"] == "resnet18" and request.recipe["epochs"] == 1
        assert request.recipe["mode"] == TrainConfig().mode  # the rest: the recommended recipe
    folders = sorted(p.name for p in (Path(app.config["DATA_DIR"]) / "pets").iterdir() if p.is_dir())
    assert [f for f in folders if not f.startswith(".")] == ["dog", "猫"]  # .review: the suspects job's, beside them


def test_flask_build_refuses_a_bad_class_with_one_line(app):
    result = app.test_cli_runner().invoke(args=["build", "--dataset", "pets", "--class", "猫", "--class", "__x=y"])
    assert result.exit_code == 1 and "not a valid name" in result.output and "Traceback" not in result.output
    with app.app_context():
        assert db.session.execute(db.select(Build)).first() is None


# -- the pages ----------------------------------------------------------------------------------------
def test_the_builder_page_in_both_languages_and_a_refused_form_keeps_what_was_typed(app, admin_client):
    zh = admin_client.get("/admin/build?lang=zh").get_data(as_text=True)
    assert "新建分类器" in zh and "构建分类器" in zh and 'id="build-recipe-arch"' in zh
    en = admin_client.get("/admin/build?lang=en").get_data(as_text=True)
    assert "New classifier" in en and 'id="build-class-1-name"' in en and 'id="build-per_class"' in en
    form = {"dataset": "pets", "per_class": "5", "skip_review": "false", "class_name": ["猫", "", "猫"],
            "class_keywords": ["猫", "", ""], "class_zh": ["", "", ""], "class_en": ["cat", "", ""], "arch": "resnet18"}
    refused = admin_client.post("/admin/build", data=form)
    page = refused.get_data(as_text=True)
    assert refused.status_code == 400 and "given twice" in page and 'value="cat"' in page
    form["class_name"] = ["猫", "", "dog"]
    started = admin_client.post("/admin/build", data=form)
    assert started.status_code == 302 and started.headers["Location"].endswith("/admin/builds/1")
    with app.app_context():
        build = db.session.get(Build, 1)
        assert build.request["classes"] == [{"name": "猫", "keywords": ["猫"], "display": {"en": "cat"}},
                                            {"name": "dog", "keywords": ["dog"], "display": {}}]
        assert build.request["recipe"]["arch"] == "resnet18" and build.request["per_class"] == 5
    timeline = admin_client.get("/admin/builds/1?lang=zh").get_data(as_text=True)
    assert "爬取每个类别" in timeline and "运行中" in timeline
    assert admin_client.get("/admin/builds/1/state").get_json()["build"]["steps"][0]["status"] == "running"
    assert admin_client.get("/admin/builds/99").status_code == 404


def test_cancel_stops_a_running_crawl_and_retry_goes_on_from_there(app, admin_client, fake):
    from tests.web_support import job_state, start_worker_process, wait_for

    fake.options.latency = 0.3  # every answer takes a while: the crawl is still running when Cancel comes
    build_id = admin_client.post("/api/v1/builds", json=_request(per_class=30)).get_json()["build"]["id"]
    with app.app_context():
        first = builds.get_build(build_id).steps[0]["jobs"][0]
    worker = start_worker_process(app)
    try:
        wait_for(lambda: job_state(app, first)["status"] == "running", timeout=60, what="the first crawl to run")
        response = admin_client.post(f"/api/v1/builds/{build_id}/cancel")
        assert response.status_code == 200 and response.get_json()["build"]["status"] == "cancelled"
        wait_for(lambda: job_state(app, first)["status"] != "running", timeout=60, what="the crawl to stop")
        assert job_state(app, first)["status"] == "cancelled"
        steps = admin_client.get(f"/api/v1/builds/{build_id}").get_json()["build"]["steps"]
        assert [s["status"] for s in steps[:2]] == ["cancelled", "pending"]  # the scan never started
        fake.options.latency = 0.0
        assert admin_client.post(f"/api/v1/builds/{build_id}/retry").status_code == 200
        wait_for(lambda: admin_client.get(f"/api/v1/builds/{build_id}").get_json()["build"]["status"] != "running",
                 timeout=120, what="the build to reach the review")
    finally:
        worker.terminate()
        worker.wait(timeout=20)
    view = admin_client.get(f"/api/v1/builds/{build_id}").get_json()["build"]
    assert view["status"] == "waiting" and view["steps"][2]["status"] == "waiting", view
    assert view["steps"][0]["counts"]["classes"] == {"猫": 30, "dog": 30}
