"""Every page issue 13 added, at phone width (375 px), in Chinese and in English, in real Chromium.

One place that visits them all (tests/page_tour.py): the builder form, a build's timeline, the review
grid, the dataset and class grid pages, the model page, the models list with its activation history,
the comparison of two models, the corrections queue, and the public result with its Grad-CAM heat map.
On each: the page's language, no sideways scrolling (nothing in <main> past the right edge), the skip
link takes the keyboard into the content, no CSP refusal and no script error; a full-page screenshot
375 px wide goes to the test's temporary folder (not committed). The per-page tests check each page's
own keys and forms.
"""

from __future__ import annotations

import pytest

from ml.review import write_suspects
from tests import browser_support, page_tour
from tests.browser_support import activate_model

browser_support.require_browser()
pytest.importorskip("torch")  # the heat map

browser, live_server, page, tiny_model = (
    browser_support.browser, browser_support.live_server, browser_support.page, browser_support.tiny_model
)

pytestmark = pytest.mark.timeout(240)
PASSWORD = "browser-test-password"
PHONE = {"width": 375, "height": 740}


def test_every_new_page_at_phone_width_in_chinese_and_english(app, live_server, page, tiny_model, tmp_path):
    from PIL import Image

    from tests.test_model_compare import _pair
    from webapp.auth import create_user

    app.config["THUMB_DIR"] = str(tmp_path / "thumbs")
    root = page_tour.make_pictures(app)
    write_suspects(root, {"version": 1, "time": "2026-01-01T00:00:00+00:00", "classes": ["cat", "dog"], "checked": 16,
                          "features": {"kind": "backbone", "name": "efficientnet_lite0", "size": 128},
                          "suspects": {"cat/0003.jpg": {"reasons": ["closer_to"], "nearest": "dog", "score": 2.0},
                                       "dog/0001.jpg": {"reasons": ["far"], "nearest": None, "score": 1.0}}})
    with app.app_context():
        create_user("admin", PASSWORD)
    first, second, _a, _b = _pair(app, tmp_path / "reports")  # the shipped model's reports: model page, compare
    activate_model(app, tiny_model, name="tiny-tour")  # a real model answers the public page and draws the heat map
    staged = page_tour.Staged(model_id=second, other_id=first, build_id=page_tour.start_build(app))

    page.set_viewport_size(PHONE)
    browser_support.login(page, live_server.url, "admin", PASSWORD)
    out = tmp_path / "shots"
    shots = []
    for lang in ("zh", "en"):
        shots += page_tour.tour(page, live_server.url, lang, staged, out)
        if lang == "zh":  # a pending correction for the queue page
            page_tour.public_result(page, live_server.url, lang, explain=False)
            page_tour.send_correction(page)
    assert len(shots) == 2 * (1 + len(page_tour.pages(staged)))
    for shot in shots:
        with Image.open(shot) as picture:
            assert picture.width == PHONE["width"], shot.name
    assert page.csp_violations == [] and page.js_errors == []

    # What the shots show, in words: the heat map is up, the queue holds the correction, the review its suspects.
    page.goto(live_server.url + "/admin/corrections?lang=en")
    assert page.locator("[data-correction-id]").count() == 1
    page.goto(live_server.url + f"/datasets/{staged.dataset}/review?lang=zh")
    assert "训练前审核" in page.inner_text("h1") and page.locator("[data-review-item].suspect").count() == 1
