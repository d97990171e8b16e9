"""The whole guided builder in real headless Chromium, as an administrator and then a visitor use it.

Against the fake Baidu (tests/fakebaidu.py) over loopback, with a real `flask worker` process, the
embedded Redis and SQLite: two classes are built (crawl, scan), reviewed (a flagged banner trashed,
one picture moved to the other class), trained with a tiny 32 px recipe, activated; a public upload
is answered by that model, the visitor sends a correction, the admin accepts it and retrains with it.
Only what the pages show is asserted, plus the files and rows they promise.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests import browser_support
from tests.conftest import ADMIN_PASSWORD, TINY_TRAIN, create_admin, make_app
from tests.fakebaidu import start_fake_baidu
from tests.imagegen import encode, shapes
from tests.web_support import start_worker_process

browser_support.require_browser()

browser, live_server, page = browser_support.browser, browser_support.live_server, browser_support.page

pytestmark = [pytest.mark.slow, pytest.mark.timeout(420)]
#: Result index 2 of every search is a 240×60 banner: crawled, then flagged "odd shape" by the scan.
BANNER = 2
PER_CLASS = 8
#: Milliseconds a build step may take on the 2-core CI (crawl, scan, train and evaluate are seconds each).
STEP_MS = 120_000


@pytest.fixture
def fake():
    server = start_fake_baidu(total=40, bad={BANNER: "banner"})
    yield server
    server.stop()


@pytest.fixture
def app(tmp_path, embedded_redis, fake):
    """The app crawling from the fake Baidu, with the review job's quick features should a page start it."""
    from webapp.extensions import db

    app = make_app(tmp_path, redis=embedded_redis, CRAWL_BASE_URL=fake.base_url, THUMB_DIR=str(tmp_path / "thumbs"),
                   CRAWL_OPTIONS={"page_delay": 0, "backoff": 0.01, "workers": 4, "allow_networks": ["127.0.0.0/8"]},
                   REVIEW_OPTIONS={"backbone": "efficientnet_lite0", "image_size": 128})
    create_admin(app)
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def worker(app):
    proc = start_worker_process(app)
    yield proc
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except Exception:
        proc.kill()
    print(proc.stdout.read()[-4000:] if proc.stdout else "")  # shown by pytest only when the test failed


def _status(page, step: str) -> str:
    return page.get_attribute(f"#step-{step}", "data-status")


def _wait_step(page, step: str, status: str) -> None:
    """Wait until the timeline (it reloads itself when a step changes) shows `step` in `status`; fail on a failed build."""
    page.wait_for_function(
        "([step, status]) => { const b = document.querySelector('[data-build-id]');"
        " const s = document.getElementById('step-' + step);"
        " return (b && b.dataset.status === 'failed') || (s && s.dataset.status === status); }",
        arg=[step, status], timeout=STEP_MS, polling=500)
    assert page.get_attribute("[data-build-id]", "data-status") != "failed", page.inner_text("#build")


def _tab_to(page, selector: str, limit: int = 80) -> None:
    """Press Tab until the element `selector` has the focus (a keyboard user's way there)."""
    for _ in range(limit):
        if page.evaluate(f"document.activeElement && document.activeElement.matches({selector!r})"):
            return
        page.keyboard.press("Tab")
    raise AssertionError(f"Tab never reached {selector}")


def test_the_whole_builder_from_keywords_to_a_retrain_with_a_visitors_correction(app, live_server, page, browser,
                                                                                worker, fake):
    from webapp.extensions import db
    from webapp.models import Build, Correction, Job

    base = live_server.url
    page.set_viewport_size({"width": 1000, "height": 900})
    page.goto(base + "/admin/login?lang=en")
    page.fill("#username", "admin")
    page.fill("#password", ADMIN_PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url("**/admin/")

    # -- the builder form: two classes, a tiny recipe ---------------------------------------------
    page.goto(base + "/admin/build")
    page.fill("#build-dataset", "pets")
    page.fill("#build-per_class", str(PER_CLASS))
    page.fill("#build-class-0-name", "猫")
    page.keyboard.press("Tab")
    page.keyboard.type("猫")
    page.fill("#build-class-0-en", "cat")
    page.fill("#build-class-1-name", "dog")
    page.fill("#build-class-1-keywords", "狗")
    page.fill("#build-class-1-zh", "狗")
    page.fill("#build-class-1-en", "dog")
    page.click("#form-build details summary")
    for name in ("arch", "pretrained", "mode"):
        page.select_option(f"#build-recipe-{name}", TINY_TRAIN[name])
    for name in ("epochs", "batch_size", "image_size"):
        page.fill(f"#build-recipe-{name}", str(TINY_TRAIN[name]))
    page.focus("#build-start")
    page.keyboard.press("Enter")
    page.wait_for_selector("[data-build-id]")
    build_id = int(page.get_attribute("[data-build-id]", "data-build-id"))
    assert page.locator(".timeline .step").count() == 7

    # -- crawl and scan, then the build waits at the review ----------------------------------------
    _wait_step(page, "review", "waiting")
    assert _status(page, "crawl") == "finished" and _status(page, "scan") == "finished"
    counts = page.inner_text("#step-crawl [data-step-counts]")
    assert f"猫: {PER_CLASS}" in counts and f"dog: {PER_CLASS}" in counts
    assert fake.count("/search/acjson") >= 2  # both classes were searched on the fake Baidu

    # -- the review: trash the flagged banner, move another picture to the other class -------------
    page.click("#step-review a.btn")
    page.wait_for_url("**/datasets/pets/review**")
    root = Path(app.config["DATA_DIR"]) / "pets"
    if page.locator("#review-job").count():  # a suspects job the pipeline started: wait for its result
        page.wait_for_selector("#review-found, #review-failed", timeout=STEP_MS)
    first_tab = page.get_attribute(".review-tabs [aria-current=page]", "data-class")
    other = "猫" if first_tab == "dog" else "dog"
    banner = page.locator("[data-review-item].suspect:has([data-reason=odd_shape])").first
    banner_path = banner.get_attribute("data-path")
    assert banner_path.startswith(first_tab + "/")
    assert "odd shape" in banner.inner_text()
    banner.focus()
    page.keyboard.press("t")
    page.wait_for_selector(".alert-success")
    trashed_name = banner_path.split("/")[-1]
    assert f"Moved {trashed_name} to the trash folder." in page.inner_text(".alert-success")
    assert (root / ".trash" / banner_path).is_file() and not (root / banner_path).exists()

    plain = page.locator("[data-review-item]").last  # the banner is gone from the grid; the last is least suspect
    moved_path = plain.get_attribute("data-path")
    moved_name = moved_path.split("/")[-1]
    plain.focus()
    page.keyboard.press("m")
    assert page.evaluate("document.activeElement.tagName") == "SELECT"
    page.select_option(f"[data-path='{moved_path}'] select", other)
    page.focus(f"[data-path='{moved_path}'] select")
    page.keyboard.press("Enter")
    page.wait_for_selector(f".alert-success >> text=Moved {moved_name} to {other}.")
    assert (root / other / moved_name).is_file() and not (root / moved_path).exists()

    _tab_to(page, "#done-form button")
    page.keyboard.press("Enter")  # "Done reviewing — continue": back to the timeline
    page.wait_for_url(f"**/admin/builds/{build_id}**")
    # the build saw "done" and went on by itself: no second click on the timeline
    assert _status(page, "review") == "finished" and page.locator("#build-continue").count() == 0

    # -- split, train, evaluate; then the activation waits for the admin ---------------------------
    _wait_step(page, "activate", "waiting")
    for step in ("review", "split", "train", "evaluate"):
        assert _status(page, step) == "finished", step
    assert "Accuracy" in page.inner_text("#step-evaluate")
    with app.app_context():
        db.session.expire_all()
        build = db.session.get(Build, build_id)
        model_id = build.model_id
        split = db.session.get(Job, build.steps[3]["jobs"][0])
        assert split.result["split"]["counts"]  # the split after the review, its own job
    page.once("dialog", lambda dialog: dialog.accept())  # "Make this model answer every prediction?"
    page.click("#build-activate")
    page.wait_for_function("() => document.querySelector('[data-build-id]').dataset.status === 'finished'",
                           timeout=STEP_MS)
    assert _status(page, "activate") == "finished"
    page.goto(base + f"/admin/models/{model_id}")
    assert "Active" in page.inner_text("h1")  # the model page says so

    # -- a visitor: the public page answers with the new model, and a correction goes in -----------
    visitor_context = browser.new_context(locale="en-US", viewport={"width": 375, "height": 800})
    visitor = visitor_context.new_page()
    visitor.set_default_timeout(browser_support.STEP_TIMEOUT_MS)
    errors: list[str] = []
    visitor.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        visitor.goto(base + "/?lang=en")
        assert visitor.locator("#no-model").count() == 0
        with visitor.expect_file_chooser() as chooser:
            visitor.click("label[for=file]")
        chooser.value.set_files(files=[{"name": "pet.jpg", "mimeType": "image/jpeg",
                                        "buffer": encode(shapes(11, size=(160, 120)))}])
        visitor.wait_for_selector("#result:not([hidden])")
        labels = visitor.eval_on_selector_all(".prediction .label", "ls => ls.map(l => l.textContent.trim())")
        assert labels and set(labels) <= {"cat", "dog"}, labels  # the new model's classes, by their English names
        with app.app_context():
            from webapp.models import ModelVersion

            model_name = db.session.get(ModelVersion, model_id).name
        assert model_name in visitor.text_content("#model-name")
        visitor.click("#correction summary")
        options = visitor.eval_on_selector_all("#correction-label option", "os => os.map(o => o.value)")
        assert options, "no class to choose"
        chosen = options[0]
        visitor.select_option("#correction-label", chosen)
        visitor.click("#correction-send")
        visitor.wait_for_function("() => document.getElementById('correction-status').textContent.startsWith('Thank')")
        assert errors == []
    finally:
        visitor_context.close()

    # -- the admin accepts the correction and retrains with it -------------------------------------
    page.goto(base + "/admin/corrections")
    card = page.locator("[data-correction-id]")
    assert card.count() == 1 and card.locator(".chosen").inner_text() == chosen
    correction_id = int(card.get_attribute("data-correction-id"))
    assert page.input_value(f"#dataset-{correction_id}") == "pets"
    card.locator("button.btn-primary").click()
    page.wait_for_selector(".alert-success >> text=Correction accepted")
    assert page.locator("#no-corrections").count() == 1
    assert (root / chosen / f"correction-{correction_id}.jpg").is_file()
    with app.app_context():
        db.session.expire_all()
        assert db.session.get(Correction, correction_id).status == "accepted"

    page.select_option("#retrain-dataset", "pets")
    page.click("#retrain button[type=submit]")
    page.wait_for_selector(".alert-success >> text=Retraining started")
    with app.app_context():
        db.session.expire_all()
        newest = list(db.session.execute(db.select(Job).order_by(Job.created_at.desc()).limit(2)).scalars())
        by_kind = {j.kind: j for j in newest}  # made in the same request: the same time, either order
        assert set(by_kind) == {"split", "train"}, [j.kind for j in newest]
        split_job, train_job = by_kind["split"], by_kind["train"]
        assert split_job.params["dataset"] == train_job.params["dataset"] == "pets"
    # the retrain starts: its split runs, then its training (stopped here: it would take minutes)
    row = page.locator(f"tr[data-job-id='{train_job.id}']")
    page.wait_for_function(
        f"() => {{ const r = document.querySelector(\"tr[data-job-id='{train_job.id}']\");"
        " return r && ['running', 'finished'].includes(r.dataset.status); }", timeout=STEP_MS, polling=500)
    assert page.get_attribute(f"tr[data-job-id='{split_job.id}']", "data-status") == "finished"
    if row.get_attribute("data-status") == "running":
        page.once("dialog", lambda dialog: dialog.accept())
        row.locator("button.btn-danger").click()
    assert page.js_errors == [] and page.csp_violations == []
