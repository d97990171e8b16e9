"""The review grid in real headless Chromium at phone width, keyboard only: k keeps, t trashes, m moves, u undoes."""

from __future__ import annotations

from pathlib import Path

import pytest

from ml.review import write_suspects
from tests import browser_support
from tests.imagegen import make_dataset

browser_support.require_browser()  # the whole module skips (one summary line) without Chromium

browser, live_server, page = browser_support.browser, browser_support.live_server, browser_support.page

pytestmark = pytest.mark.timeout(120)
PASSWORD = "browser-test-password"
OVERFLOW = browser_support.OVERFLOW


def _focused_path(page) -> str | None:
    return page.evaluate("document.activeElement && document.activeElement.dataset.path || null")


def test_review_by_keyboard_at_phone_width(app, live_server, page, tmp_path):
    app.config["THUMB_DIR"] = str(tmp_path / "thumbs")
    root = make_dataset(Path(app.config["DATA_DIR"]) / "pets", {"cat": 5, "dog": 4}, coloured=True)
    write_suspects(root, {"version": 1, "time": "2026-01-01T00:00:00+00:00", "classes": ["cat", "dog"], "checked": 9,
                          "features": {"kind": "backbone", "name": "efficientnet_lite0", "size": 128},
                          "suspects": {"cat/0003.jpg": {"reasons": ["closer_to"], "nearest": "dog", "score": 2.0},
                                       "cat/0001.jpg": {"reasons": ["far"], "nearest": None, "score": 1.0}}})
    browser_support.admin_at_phone_width(app, page, live_server.url, PASSWORD)

    page.goto(live_server.url + "/datasets/pets/review?next=/admin/")
    page.wait_for_function("() => [...document.querySelectorAll('#review-grid img')].every(i => i.complete && i.naturalWidth > 0)")
    assert "k keeps the picture" in page.inner_text("#review-keys")
    order = page.eval_on_selector_all("[data-review-item]", "items => items.map(i => i.dataset.path)")
    assert order[:2] == ["cat/0003.jpg", "cat/0001.jpg"]
    width, inner, sticking_out = page.evaluate(OVERFLOW)
    assert width <= inner == 375 and sticking_out == []
    from PIL import Image

    shot = tmp_path / "review-375.png"
    page.screenshot(path=str(shot), full_page=True)
    with Image.open(shot) as picture:  # the phone-width screenshot
        assert picture.width == 375 and picture.height > 740

    # Tab reaches the first picture; the right arrow moves to the next one.
    page.focus("#done-form button")
    for _ in range(20):
        page.keyboard.press("Tab")
        if _focused_path(page):
            break
    assert _focused_path(page) == "cat/0003.jpg"
    page.keyboard.press("ArrowRight")
    assert _focused_path(page) == "cat/0001.jpg"
    page.keyboard.press("ArrowLeft")

    # t: the suspect goes to the trash folder; the focus stays where it was, now on the next suspect.
    page.keyboard.press("t")
    page.wait_for_selector(".alert-success")
    assert "Moved 0003.jpg to the trash folder." in page.inner_text(".alert-success")
    assert (root / ".trash" / "cat" / "0003.jpg").is_file() and not (root / "cat" / "0003.jpg").exists()
    assert _focused_path(page) == "cat/0001.jpg"

    # k: kept, no longer flagged (it moves after the suspects); u: undone, flagged again.
    page.keyboard.press("k")
    page.wait_for_selector(".alert-success >> text=no longer flagged")
    assert page.eval_on_selector("[data-path='cat/0001.jpg']", "li => li.classList.contains('suspect')") is False
    page.keyboard.press("u")
    page.wait_for_selector(".alert-success >> text=is back as it was")
    assert page.eval_on_selector("[data-path='cat/0001.jpg']", "li => li.classList.contains('suspect')") is True

    # u again: the trashed picture comes back from the trash folder.
    page.keyboard.press("u")
    page.wait_for_selector(".alert-success >> text=0003.jpg is back as it was")
    assert (root / "cat" / "0003.jpg").is_file() and not (root / ".trash" / "cat" / "0003.jpg").exists()

    # m: choose the class, Enter moves it there.
    page.focus("[data-path='cat/0003.jpg']")
    page.keyboard.press("m")
    assert page.evaluate("document.activeElement.tagName") == "SELECT"
    page.keyboard.press("Enter")
    page.wait_for_selector(".alert-success >> text=Moved 0003.jpg to dog.")
    assert (root / "dog" / "0003.jpg").is_file()
    width, inner, sticking_out = page.evaluate(OVERFLOW)
    assert width <= inner == 375 and sticking_out == []

    # Done reviewing — continue: back to the page that sent us (a local path).
    page.focus("#done-form button")
    page.keyboard.press("Enter")
    page.wait_for_url("**/admin/")

    page.goto(live_server.url + "/datasets/pets/review?lang=zh&cls=dog")
    assert "训练前审核" in page.inner_text("h1")
    width, inner, sticking_out = page.evaluate(OVERFLOW)
    assert width <= inner == 375 and sticking_out == []
    assert page.csp_violations == [] and page.js_errors == []
