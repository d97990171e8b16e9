"""The compare page in real Chromium at phone width: picked from the models list by keyboard, no page overflow;
the activation history and Roll back on the models list and the model page."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from tests import browser_support
from tests.test_model_compare import _pair

browser_support.require_browser()

browser, live_server, page = browser_support.browser, browser_support.live_server, browser_support.page

pytestmark = pytest.mark.timeout(120)
PASSWORD = "browser-test-password"


def test_compare_two_models_at_phone_width_by_keyboard_in_both_languages(app, live_server, page, tmp_path):
    a, b, _oos_a, _oos_b = _pair(app, tmp_path)
    browser_support.admin_at_phone_width(app, page, live_server.url, PASSWORD)
    page.goto(live_server.url + "/admin/models?lang=en")
    page.focus("#compare-a")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "compare-b"
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")  # the Compare button: a plain GET form, no script needed
    page.wait_for_url("**/admin/models/compare?*")
    picked = parse_qs(urlsplit(page.url).query)
    assert {int(picked["a"][0]), int(picked["b"][0])} == {a, b}  # no model active: the two newest
    for lang in ("en", "zh"):
        page.goto(live_server.url + f"/admin/models/compare?a={a}&b={b}&lang={lang}")
        assert page.evaluate("document.documentElement.scrollWidth") <= 375
        assert page.locator("#compare-per-class table").count() == 2
        worse = page.locator("#compare-per-class [data-kind=out_of_source] tr[data-class=cat] td.diff.worse")
        assert worse.count() == 1 and worse.evaluate("td => getComputedStyle(td).backgroundColor") != "rgba(0, 0, 0, 0)"
        # A wide table scrolls inside its own box, never the page.
        wrap = page.locator("#compare-per-class .table-wrap").first
        assert wrap.evaluate("w => w.getBoundingClientRect().right") <= 375
    assert "比较模型" in page.inner_text("h1")
    with app.app_context():
        from webapp.registry import activate_model

        activate_model(a, via="cli")
        activate_model(b, via="cli")
    for lang in ("en", "zh"):  # the models list and the model page with their history, rollback and compare forms
        for path, rows in (("/admin/models", 2), (f"/admin/models/{b}", 1)):  # the model page: b's switches only
            page.goto(live_server.url + f"{path}?lang={lang}")
            assert page.locator("#activations table.activations tbody tr").count() == rows
            assert page.locator("#rollback").count() == 1
            assert page.evaluate("document.documentElement.scrollWidth") <= 375, (path, lang)
    page.click("#rollback")
    page.wait_for_url(f"**/admin/models/{b}")
    assert page.locator("#activations table.activations tbody tr").count() == 2  # b activated, then replaced
    assert page.locator("#activate").count() == 1  # b is no longer the active model
    assert page.csp_violations == [] and page.js_errors == []
