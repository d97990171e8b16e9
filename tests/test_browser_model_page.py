"""The model page in real Chromium: curves drawn, nothing refused by the CSP, nothing wider than a phone."""

from __future__ import annotations

import pytest

from tests import browser_support
from tests.test_model_page import _register

browser_support.require_browser()

browser, live_server, page = browser_support.browser, browser_support.live_server, browser_support.page

pytestmark = pytest.mark.timeout(120)
PASSWORD = "browser-test-password"


def test_model_page_draws_curves_at_phone_width_in_both_languages(app, live_server, page, tmp_path):
    model_id = _register(app, tmp_path / "shipped")
    browser_support.admin_at_phone_width(app, page, live_server.url, PASSWORD)
    for lang in ("en", "zh"):
        page.goto(live_server.url + f"/admin/models/{model_id}?lang={lang}")
        box = page.eval_on_selector("[data-chart=loss] polyline[data-key=loss]", "p => p.getBoundingClientRect().toJSON()")
        assert box["width"] > 100 and box["height"] > 10  # drawn, and wide enough to read on a phone
        assert page.evaluate("document.documentElement.scrollWidth") <= 375
        assert page.locator("table.confusion-table").count() == 2  # out-of-source and in-source
    assert "训练曲线" in page.inner_text("#curves")
    assert page.csp_violations == [] and page.js_errors == []
