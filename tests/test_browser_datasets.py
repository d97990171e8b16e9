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
