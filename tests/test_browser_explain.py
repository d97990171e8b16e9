""""Why this answer?" in real headless Chromium: the heat map is fetched only on demand, toggles over the photo."""

from __future__ import annotations

import pytest

from tests import browser_support
from tests.browser_support import activate_model
from tests.imagegen import encode, shapes

browser, live_server, page, tiny_model = (
    browser_support.browser, browser_support.live_server, browser_support.page, browser_support.tiny_model
)

browser_support.require_browser()  # the whole module skips (one summary line) without Chromium
pytest.importorskip("torch")

pytestmark = pytest.mark.timeout(180)


def _choose_picture(page, seed: int) -> None:
    with page.expect_file_chooser() as chooser:
        page.click("label[for=file]")
    chooser.value.set_files(files=[{"name": "pet.jpg", "mimeType": "image/jpeg",
                                    "buffer": encode(shapes(seed, size=(160, 120), colour=(220, 40, 40)))}])
    page.wait_for_selector("#result:not([hidden])")


def test_why_this_answer_shows_the_heat_map_over_the_photo(app, live_server, page, tiny_model):
    activate_model(app, tiny_model, name="tiny-explain")
    asked: list[str] = []
    page.on("request", lambda r: asked.append(r.url) if r.url.endswith("/api/v1/explain") else None)
    page.goto(live_server.url + "/?lang=en")
    _choose_picture(page, 5)
    assert asked == []  # a plain answer computes no heat map
    assert page.is_hidden("#heatmap") and page.is_visible("#preview")
    top = page.text_content(".prediction .label")

    page.click("#explain-toggle")
    page.wait_for_selector("#heatmap:not([hidden])")
    page.wait_for_function("() => { const i = document.getElementById('heatmap'); return i.complete && i.naturalWidth > 0; }")
    assert len(asked) == 1
    assert page.get_attribute("#heatmap", "src").startswith("data:image/png;base64,")
    assert page.is_hidden("#preview")
    assert page.get_attribute("#explain-toggle", "aria-pressed") == "true"
    assert page.text_content("#explain-toggle").strip() == "Show the photo"
    assert top in page.text_content("#heatmap-caption")

    page.click("#explain-toggle")  # back to the photo, and again: no second request
    assert page.is_visible("#preview") and page.is_hidden("#heatmap")
    page.click("#explain-toggle")
    assert page.is_visible("#heatmap") and len(asked) == 1

    _choose_picture(page, 6)  # a new picture: the old heat map is gone
    assert page.is_hidden("#heatmap") and page.is_visible("#preview")
    assert page.text_content("#explain-toggle").strip() == "Why this answer?"
    assert page.csp_violations == [] and page.js_errors == []


def test_why_this_answer_in_chinese_says_when_busy(app, live_server, page, tiny_model):
    from ml import explain

    activate_model(app, tiny_model, name="tiny-explain-zh")
    app.config["EXPLAIN_WAIT_S"] = 0.05
    page.goto(live_server.url + "/?lang=zh")
    _choose_picture(page, 7)
    assert page.text_content("#explain-toggle").strip() == "为什么是这个答案？"
    explain._run_lock.acquire()  # another heat map holds the model
    try:
        page.click("#explain-toggle")
        page.wait_for_function("() => document.getElementById('explain-status').textContent.startsWith('当前')")
    finally:
        explain._run_lock.release()
    assert page.is_hidden("#heatmap") and page.is_enabled("#explain-toggle")
    page.click("#explain-toggle")
    page.wait_for_selector("#heatmap:not([hidden])")
    assert page.text_content("#explain-toggle").strip() == "显示原图"
    assert page.csp_violations == [] and page.js_errors == []
