"""The guided builder in real headless Chromium: the keyboard adds and removes class rows, the form
starts a build, and its timeline polls itself, all under the CSP and at 375 px."""

from __future__ import annotations

import pytest

from tests import browser_support

browser_support.require_browser()

browser, live_server, page = browser_support.browser, browser_support.live_server, browser_support.page

pytestmark = pytest.mark.timeout(180)
PASSWORD = "browser-test-password"


def _ids_are_unique(page) -> bool:
    return page.evaluate("""() => {
        const ids = [...document.querySelectorAll('[id]')].map((e) => e.id);
        const labels = [...document.querySelectorAll('label[for]')].every((l) => document.getElementById(l.htmlFor));
        return labels && new Set(ids).size === ids.length;
    }""")


def test_the_builder_form_adds_rows_by_keyboard_and_its_timeline_polls_at_375px(app, live_server, page):
    from webapp.auth import create_user
    from webapp.extensions import db
    from webapp.models import Build

    with app.app_context():
        create_user("admin", PASSWORD)
    page.set_viewport_size({"width": 375, "height": 800})
    page.goto(live_server.url + "/admin/login?lang=en")
    page.fill("#username", "admin")
    page.fill("#password", PASSWORD)
    page.click("#login-form button[type=submit]")
    page.goto(live_server.url + "/admin/build")
    assert page.locator("[data-class-row]").count() == 2
    page.fill("#build-dataset", "pets")
    page.fill("#build-class-0-name", "猫")
    page.fill("#build-class-0-keywords", "猫, 小猫")
    page.fill("#build-class-0-en", "cat")
    page.keyboard.press("Alt+N")  # a new row, its name field focused
    assert page.locator("[data-class-row]").count() == 3
    assert page.evaluate("document.activeElement.id") == "build-class-2-name"
    page.keyboard.type("horse")
    page.keyboard.press("Alt+Backspace")  # and gone again, with what was typed in it
    assert page.locator("[data-class-row]").count() == 2
    assert page.input_value("#build-class-1-name") == ""
    page.fill("#build-class-1-name", "dog")
    page.fill("#build-class-1-keywords", "狗")
    assert _ids_are_unique(page)
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    page.click("#build-start")

    page.wait_for_selector("[data-build-id]")
    with app.app_context():
        build = db.session.execute(db.select(Build)).scalar_one()
        assert [c["name"] for c in build.request["classes"]] == ["猫", "dog"]
        assert build.request["classes"][0]["display"] == {"en": "cat"}
        assert build.request["per_class"] == 30  # the declared default
    assert page.get_attribute("#step-crawl", "data-status") == "running"
    assert page.locator(".timeline .step").count() == 7
    # No worker runs: the crawls stay queued, and the polling moves the elapsed time on without a reload.
    first = page.text_content("[data-build-elapsed]")
    page.wait_for_function(f"() => document.querySelector('[data-build-elapsed]').textContent !== {first!r}",
                           timeout=10_000)
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    assert _ids_are_unique(page)
    page.click("#build-cancel")
    page.wait_for_selector("#build-retry")
    assert page.get_attribute("#step-crawl", "data-status") == "cancelled"
    assert page.js_errors == [] and page.csp_violations == []
