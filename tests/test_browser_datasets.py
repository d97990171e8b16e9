"""Dataset pages in real headless Chromium: thumbnails render, an admin trashes an image after confirming."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests import browser_support
from tests.imagegen import make_dataset

browser_support.require_browser()  # the whole module skips (one summary line) without Chromium

browser, live_server, page = browser_support.browser, browser_support.live_server, browser_support.page

pytestmark = pytest.mark.timeout(120)
PASSWORD = "browser-test-password"


@pytest.fixture
def animals(app, tmp_path) -> Path:
    app.config["THUMB_DIR"] = str(tmp_path / "thumbs")
    root = Path(app.config["DATA_DIR"]) / "animals"
    make_dataset(root, {"猫": 3, "dog": 2}, coloured=True)
    return root


def test_thumbnails_render_and_admin_deletes_after_confirming(app, live_server, page, animals):
    from webapp.auth import create_user

    page.goto(live_server.url + "/datasets/?lang=en")
    page.click("text=animals")
    page.click("a[data-class='猫']")
    page.wait_for_function(
        "() => [...document.querySelectorAll('#thumbs img')].length === 3"
        " && [...document.querySelectorAll('#thumbs img')].every(i => i.complete && i.naturalWidth > 0)"
    )
    assert page.query_selector("input[name=new_name]") is None  # visitors get no rename form

    with app.app_context():
        create_user("admin", PASSWORD)
    page.goto(live_server.url + "/admin/login")
    page.fill("#username", "admin")
    page.fill("#password", PASSWORD)
    page.click("#login-form button[type=submit]")
    page.goto(live_server.url + "/datasets/animals/images/%E7%8C%AB/0001.jpg")
    assert page.evaluate("document.getElementById('picture').naturalWidth") == 96

    dialogs = []
    page.once("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.click("#admin-actions .btn-danger")
    assert dialogs and "trash" in dialogs[0]
    assert (animals / "猫" / "0001.jpg").exists()  # dismissed: nothing happened

    page.once("dialog", lambda dialog: dialog.accept())
    page.click("#admin-actions .btn-danger")
    page.wait_for_selector(".alert-success")
    assert "Image moved to the trash folder." in page.inner_text(".alert-success")
    assert not (animals / "猫" / "0001.jpg").exists()
    assert (animals / ".trash" / "猫" / "0001.jpg").is_file()


OVERFLOW = browser_support.OVERFLOW


def test_grid_pages_filters_and_bulk_trashes_by_keyboard_at_phone_width(app, live_server, page, tmp_path):
    from ml.dataset import read_split, split

    app.config["THUMB_DIR"] = str(tmp_path / "thumbs")
    app.config["DATASET_PAGE_SIZE"] = 4
    root = Path(app.config["DATA_DIR"]) / "animals"
    make_dataset(root, {"猫": 6, "a-dog-class-with-a-rather-long-name": 14}, coloured=True)
    split(root, test=0.3, seed=2)
    classes, rows = read_split(root, "train")
    dog = "a-dog-class-with-a-rather-long-name"
    train = sorted(rel.split("/")[-1] for rel, label in rows if classes[label] == dog)
    assert len(train) > 8  # three pages of four

    browser_support.admin_at_phone_width(app, page, live_server.url, PASSWORD)

    page.goto(live_server.url + "/datasets/animals/")
    page.wait_for_function("() => [...document.querySelectorAll('.card-thumbs img')].length === 8"
                           " && [...document.querySelectorAll('.card-thumbs img')].every(i => i.complete && i.naturalWidth > 0)")
    width, inner, sticking_out = page.evaluate(OVERFLOW)
    assert width <= inner == 375 and sticking_out == []

    # Keyboard only: focus the class card's link, open it, pick the filter, apply it.
    page.focus(f"a[data-class='{dog}']")
    page.keyboard.press("Enter")
    page.wait_for_selector("#grid-filters")
    page.focus("#show")
    page.select_option("#show", "train")
    page.keyboard.press("Tab")  # the page size
    page.keyboard.press("Tab")  # Apply
    page.keyboard.press("Enter")
    page.wait_for_url("**show=train**")
    shown = page.eval_on_selector_all("#thumbs img", "imgs => imgs.map(i => i.alt)")
    assert shown == train[:4]
    page.focus("nav.pagination a[rel=next]")
    page.keyboard.press("Enter")
    page.wait_for_url("**page=2**")
    assert "show=train" in page.url
    assert page.eval_on_selector_all("#thumbs img", "imgs => imgs.map(i => i.alt)") == train[4:8]
    assert page.inner_text(".page-link[aria-current=page]") == "2"
    page.wait_for_function("() => [...document.querySelectorAll('#thumbs img')].every(i => i.complete && i.naturalWidth > 0)")
    width, inner, sticking_out = page.evaluate(OVERFLOW)
    assert width <= inner == 375 and sticking_out == []

    # Bulk select: all on the page with the space bar, then one off again.
    page.focus("#select-page")
    page.keyboard.press("Space")
    assert page.eval_on_selector_all("#thumbs input[name=path]", "boxes => boxes.every(b => b.checked)")
    assert page.inner_text("#selected-count") == "Selected: 4"
    page.focus(f"#thumbs input[value='{dog}/{train[4]}']")
    page.keyboard.press("Space")
    assert page.inner_text("#selected-count") == "Selected: 3"
    assert page.evaluate("document.getElementById('select-page').indeterminate")
    page.focus("#bulk-action")
    assert page.evaluate("document.getElementById('bulk-action').value") == "trash"
    dialogs = []
    page.once("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.accept()))
    page.focus("#bulk-form button[type=submit]")
    page.keyboard.press("Enter")
    page.wait_for_selector(".alert-success")
    assert dialogs and "trash folder" in dialogs[0]
    assert page.inner_text(".alert-success") == "Images moved to the trash folder: 3."
    assert "show=train" in page.url and "page=2" in page.url
    assert (root / dog / train[4]).is_file()
    assert all((root / ".trash" / dog / name).is_file() and not (root / dog / name).exists() for name in train[5:8])

    page.goto(live_server.url + f"/datasets/animals/classes/{dog}/?show=train&lang=zh")
    assert "在训练集中" in page.inner_text("#grid-filters")
    width, inner, sticking_out = page.evaluate(OVERFLOW)
    assert width <= inner == 375 and sticking_out == []
    assert page.csp_violations == [] and page.js_errors == []
