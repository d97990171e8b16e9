"""The public "wrong? tell us" flow in real headless Chromium: pick the right class, send, see it queued."""

from __future__ import annotations

import pytest

from tests import browser_support
from tests.browser_support import activate_model
from tests.imagegen import encode, shapes

browser, live_server, page, tiny_model = (
    browser_support.browser, browser_support.live_server, browser_support.page, browser_support.tiny_model
)

browser_support.require_browser()  # the whole module skips (one summary line) without Chromium

pytestmark = pytest.mark.timeout(180)


def test_wrong_tell_us_sends_a_pending_correction(app, live_server, page, tiny_model):
    from webapp.extensions import db
    from webapp.models import Correction

    model_id = activate_model(app, tiny_model, name="tiny-corrections")
    page.goto(live_server.url + "/?lang=en")
    with page.expect_file_chooser() as chooser:
        page.click("label[for=file]")
    chooser.value.set_files(files=[{"name": "pet.jpg", "mimeType": "image/jpeg",
                                    "buffer": encode(shapes(5, size=(160, 120), colour=(220, 40, 40)))}])
    page.wait_for_selector("#result:not([hidden])")
    top = page.text_content(".prediction .label")
    page.click("#correction summary")
    options = page.eval_on_selector_all("#correction-label option", "os => os.map(o => o.value)")
    assert options and all(o != top for o in options)  # the answer given is not offered as the right one
    page.select_option("#correction-label", options[0])
    page.click("#correction-send")
    page.wait_for_function("() => document.getElementById('correction-status').textContent.startsWith('Thank')")
    assert page.is_disabled("#correction-send")
    with app.app_context():
        rows = list(db.session.execute(db.select(Correction)).scalars())
        assert [(r.chosen_label, r.status, r.model_version_id) for r in rows] == [(options[0], "pending", model_id)]


def test_wrong_tell_us_in_chinese(app, live_server, page, tiny_model):
    activate_model(app, tiny_model, name="tiny-corrections-zh")
    page.goto(live_server.url + "/?lang=zh")
    with page.expect_file_chooser() as chooser:
        page.click("label[for=file]")
    chooser.value.set_files(files=[{"name": "pet.jpg", "mimeType": "image/jpeg",
                                    "buffer": encode(shapes(6, size=(160, 120)))}])
    page.wait_for_selector("#result:not([hidden])")
    assert page.text_content("#correction summary").strip() == "不对？告诉我们"
    page.click("#correction summary")
    page.click("#correction-send")
    page.wait_for_function("() => document.getElementById('correction-status').textContent.startsWith('谢谢')")
