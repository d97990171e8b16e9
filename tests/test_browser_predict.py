"""The public upload page in real headless Chromium: file chooser, drop, paste, result bars, errors."""

from __future__ import annotations

import base64
import re

import pytest

from tests import browser_support
from tests.browser_support import activate_model
from tests.imagegen import encode, shapes
from tests.modelgen import ALWAYS_UNKNOWN, with_meta

# Fixtures shared by the browser tests (module attributes, so pytest finds them here).
browser, live_server, page, tiny_model = (
    browser_support.browser, browser_support.live_server, browser_support.page, browser_support.tiny_model
)

browser_support.require_browser()  # the whole module skips (one summary line) without Chromium

pytestmark = pytest.mark.timeout(180)


def _photo(seed: int = 3, size=(160, 120)) -> bytes:
    return encode(shapes(seed, size=size, colour=(220, 40, 40)))


def _choose(page, name: str, mime: str, data: bytes) -> None:
    """Pick a file through the real file chooser opened by the 'Choose photo' button."""
    with page.expect_file_chooser() as chooser:
        page.click("label[for=file]")
    chooser.value.set_files(files=[{"name": name, "mimeType": mime, "buffer": data}])


def _bars(page) -> list[tuple[str, float, float]]:
    """(label, shown percent, bar width percent of its track) for each result row."""
    page.wait_for_function(
        "() => [...document.querySelectorAll('.prediction .progress-bar')].every(b => b.style.width !== '')"
    )
    page.wait_for_timeout(500)  # the bars' width transition
    rows = page.eval_on_selector_all(
        ".prediction",
        """rows => rows.map(r => [r.querySelector('.label').textContent,
                                  parseFloat(r.querySelector('.probability').textContent),
                                  r.querySelector('.progress-bar').getBoundingClientRect().width
                                  / r.querySelector('.progress').getBoundingClientRect().width * 100])""",
    )
    return [tuple(r) for r in rows]


def test_upload_by_file_chooser_shows_result_bars(app, live_server, page, tiny_model):
    activate_model(app, tiny_model, name="tiny-browser")
    page.goto(live_server.url + "/?lang=en")
    _choose(page, "cat.jpg", "image/jpeg", _photo())
    page.wait_for_selector("#result:not([hidden])")
    bars = _bars(page)
    assert len(bars) == 3
    percents = [p for _, p, _ in bars]
    assert percents == sorted(percents, reverse=True) and 99.0 <= sum(percents) <= 100.5
    for label, percent, width in bars:
        assert label in ("猫", "狗", "牛")
        assert width == pytest.approx(percent, abs=2.0)  # the bar is as long as the number says
    assert page.inner_text("#model-name").startswith("tiny-browser")
    assert re.fullmatch(r"[\d.]+ ms", page.inner_text("#latency"))
    assert page.get_attribute("#preview", "src").startswith("blob:")
    assert page.is_hidden("#error")
    assert not page.js_errors


def test_not_an_image_shows_a_clear_message(app, live_server, page, tiny_model):
    activate_model(app, tiny_model)
    page.goto(live_server.url + "/?lang=en")
    _choose(page, "notes.txt", "text/plain", b"this is not a picture at all")
    error = page.wait_for_selector("#error:not([hidden])")
    assert "This file is not a picture" in error.inner_text()
    assert page.is_hidden("#result")


def test_no_model_yet_is_explained_in_chinese(live_server, browser):
    context = browser.new_context(locale="zh-CN")
    try:
        tab = context.new_page()
        tab.goto(live_server.url + "/")
        assert tab.inner_text("h1") == "这是什么动物？"
        with tab.expect_file_chooser() as chooser:
            tab.click("label[for=file]")
        chooser.value.set_files(files=[{"name": "a.jpg", "mimeType": "image/jpeg", "buffer": _photo()}])
        error = tab.wait_for_selector("#error:not([hidden])")
        assert "还没有可用的模型" in error.inner_text()
    finally:
        context.close()


def test_too_large_is_refused_in_the_page_and_by_the_server(app, live_server, page):
    app.config["MAX_CONTENT_LENGTH"] = 4096
    page.goto(live_server.url + "/?lang=en")
    big = _photo(size=(400, 300))
    assert len(big) > 4096
    _choose(page, "big.jpg", "image/jpeg", big)
    error = page.wait_for_selector("#error:not([hidden])")
    assert error.inner_text() == "The file is too large. The limit is 4 KB."
    # The server refuses too (HTTP 413) when the page's own check is out of date.
    app.config["MAX_CONTENT_LENGTH"] = 1024
    page.eval_on_selector("#error", "e => { e.hidden = true; e.textContent = ''; }")
    medium = _photo(size=(64, 48))
    assert 1024 < len(medium) < 4096
    _choose(page, "medium.jpg", "image/jpeg", medium)
    error = page.wait_for_selector("#error:not([hidden])")
    assert error.inner_text() == "The file is too large. The limit is 4 KB."


def test_drop_and_paste_also_recognise(app, live_server, page, tiny_model):
    activate_model(app, tiny_model)
    page.goto(live_server.url + "/?lang=en")
    payload = base64.b64encode(_photo()).decode()
    make_transfer = """b64 => { const bytes = Uint8Array.from(atob(b64), c => c.charCodeAt(0));
        const dt = new DataTransfer(); dt.items.add(new File([bytes], 'x.jpg', {type: 'image/jpeg'})); return dt; }"""
    page.evaluate(
        f"b64 => {{ const dt = ({make_transfer})(b64);"
        " document.getElementById('dropzone').dispatchEvent(new DragEvent('drop', {dataTransfer: dt, bubbles: true, cancelable: true})); }",
        payload,
    )
    page.wait_for_selector("#result:not([hidden])")
    assert len(_bars(page)) == 3
    page.eval_on_selector("#result", "r => { r.hidden = true; }")
    page.evaluate(
        f"b64 => {{ const dt = ({make_transfer})(b64);"
        " document.dispatchEvent(new ClipboardEvent('paste', {clipboardData: dt, bubbles: true, cancelable: true})); }",
        payload,
    )
    page.wait_for_selector("#result:not([hidden])")
    assert not page.js_errors


def test_phone_layout_and_language_switch(live_server, browser):
    context = browser.new_context(locale="en-US", viewport={"width": 360, "height": 740}, has_touch=True, is_mobile=True)
    try:
        tab = context.new_page()
        tab.goto(live_server.url + "/")
        assert tab.evaluate("document.documentElement.scrollWidth") <= 360  # nothing sticks out sideways
        assert tab.is_visible("#camera-label")  # phones get the camera button (capture)
        assert tab.inner_text("h1") == "What animal is this?"
        tab.click("a[data-lang=zh]")
        tab.wait_for_selector("text=这是什么动物？")
        tab.goto(live_server.url + "/datasets/")  # the choice sticks (cookie)
        assert tab.inner_text("h1") == "数据集"
    finally:
        context.close()


def test_unknown_photo_message_and_not_available_note(app, live_server, page, tiny_model, tmp_path):
    """`unknown: true` shows the closest guess in a sentence; a model without the check says so, small."""
    activate_model(app, with_meta(tiny_model, tmp_path / "checked.pt", open_set=ALWAYS_UNKNOWN), name="checked")
    page.goto(live_server.url + "/?lang=zh")
    _choose(page, "cat.jpg", "image/jpeg", _photo())
    page.wait_for_selector("#result:not([hidden])")
    label, percent, _ = _bars(page)[0]
    shown = re.fullmatch(r"这张照片不像我认识的任何一种动物 — 最像：(.+) (\d+)%", page.inner_text("#unknown"))
    assert shown and shown[1] == label and abs(int(shown[2]) - percent) <= 0.51  # whole percent of the top bar
    assert page.is_hidden("#no-unknown-check")

    activate_model(app, with_meta(tiny_model, tmp_path / "old.pt"), name="old")
    page.goto(live_server.url + "/?lang=en")
    _choose(page, "cat.jpg", "image/jpeg", _photo())
    page.wait_for_selector("#result:not([hidden])")
    assert page.is_hidden("#unknown")
    assert page.inner_text("#no-unknown-check") == "Unknown-photo check not available for this model."
    assert not page.js_errors
