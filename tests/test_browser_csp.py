"""Every page works under its Content-Security-Policy in real Chromium: nothing refused, behaviours intact."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests import browser_support
from tests.conftest import copy_model, register_tiny
from tests.imagegen import encode, make_dataset, shapes

browser, live_server, page = browser_support.browser, browser_support.live_server, browser_support.page

pytestmark = pytest.mark.timeout(180)
PASSWORD = "browser-test-password"


def test_pages_run_under_their_csp(app, live_server, page, tiny_model):
    from webapp.auth import create_user

    with app.app_context():
        create_user("admin", PASSWORD)
    register_tiny(app, tiny_model)
    bare = copy_model(tiny_model, Path(app.config["MODEL_DIR"]) / "bare")
    for picture in bare.parent.glob("*.confusion.png"):
        picture.unlink()  # no confusion matrix: the models page must hide the broken picture (static/pages.js)
    bare_id = register_tiny(app, bare, activate=False, name="bare")
    make_dataset(Path(app.config["DATA_DIR"]) / "pets", {"cat": 2})

    page.goto(live_server.url + "/?lang=en")
    page.set_input_files("#file", files=[{"name": "cat.jpg", "mimeType": "image/jpeg", "buffer": encode(shapes(3))}])
    page.wait_for_selector("#result:not([hidden])")  # the page script ran and called the API
    page.goto(live_server.url + "/admin/login")
    page.fill("#username", "admin")
    page.fill("#password", PASSWORD)
    page.click("#login-form button[type=submit]")
    page.wait_for_url("**/admin/")
    page.goto(live_server.url + "/admin/models")
    bare_card = f'section[data-model-id="{bare_id}"]'
    page.click(f"{bare_card} details summary")
    page.wait_for_function(f"() => document.querySelector('{bare_card} img[data-hide-if-broken]').parentElement.hidden")
    for url in ("/datasets/", "/datasets/pets/", "/datasets/pets/classes/cat/", "/datasets/pets/images/cat/0000.jpg",
                "/datasets/pets/review"):
        page.goto(live_server.url + url)
    assert page.csp_violations == [] and page.js_errors == []
