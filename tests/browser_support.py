"""Real headless Chromium (Debian's /usr/bin/chromium, driven by Playwright) against a real HTTP server.

Import the fixtures into a test module:

    from tests import browser_support
    browser, live_server, page = browser_support.browser, browser_support.live_server, browser_support.page

`live_server` serves the test's `app` fixture with werkzeug on 127.0.0.1 and a free port, in a
thread; `page` is a fresh browser tab (own cookies) whose default timeout is a few seconds.
Each browser test module calls `require_browser()` first: when Chromium or Playwright is missing
on a developer machine the modules skip, and pytest folds them into one summary line saying how
to enable them; under CI (`CI` set) a missing browser is an error, because .ci/run installs it.
"""

from __future__ import annotations

import atexit
import os
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from werkzeug.serving import make_server

CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
#: Milliseconds any single page step may take before the test fails (the 2-core CI is slow).
STEP_TIMEOUT_MS = 15_000
#: `page.evaluate(OVERFLOW)` → [page width, window width, up to five elements of <main> sticking out on the
#: right]; an element inside a box that scrolls sideways (a wide table's .table-wrap) scrolls there, not
#: the page, and does not count.
OVERFLOW = ("() => [document.documentElement.scrollWidth, window.innerWidth,"
            " [...document.querySelectorAll('main *')].filter(e => e.getBoundingClientRect().right > window.innerWidth + 1"
            " && !(e.parentElement && e.parentElement.closest('.table-wrap, pre')))"
            ".map(e => e.tagName + '.' + e.className).slice(0, 5)]")


def chromium_path() -> str | None:
    """The first Chromium binary found on this machine, or None."""
    for candidate in CHROMIUM_CANDIDATES:
        if Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    found = shutil.which("chromium")
    return found


#: How to turn the browser tests on (Playwright drives the system's Chromium; it downloads no browser).
ENABLE_HINT = "enable them with `apt-get install -y chromium` (Debian/Ubuntu) or `dnf install -y chromium` (Fedora)"


def _missing(reason: str):
    if os.environ.get("CI"):
        pytest.fail(f"browser tests: {reason} (CI must install it: see .ci/run)", pytrace=False)
    pytest.skip(f"browser tests: {reason}; {ENABLE_HINT}", allow_module_level=True)


def browser_missing() -> str | None:
    """Why the browser tests cannot run here (no Playwright package, no Chromium), or None."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the Playwright Python package is missing (`pip install -r requirements-dev.txt`)"
    if chromium_path() is None:
        return "Chromium is not installed (no /usr/bin/chromium)"
    return None


def require_browser() -> None:
    """Skip the calling test module (one folded summary line for all of them) when no browser can run."""
    reason = browser_missing()
    if reason:
        _missing(reason)


_shared: dict = {}


def _close_shared() -> None:
    browser = _shared.pop("browser", None)
    playwright = _shared.pop("playwright", None)
    if browser is not None:
        browser.close()
    if playwright is not None:
        playwright.stop()


def shared_browser():
    """One headless Chromium per test process, whichever module asks first (closed at exit).

    Each test module imports the fixtures below, which makes them per-module fixtures for
    pytest; a second Playwright started while the first runs would fail, so they share this one.
    """
    if "browser" not in _shared:
        require_browser()
        from playwright.sync_api import sync_playwright

        path = chromium_path()
        playwright = sync_playwright().start()
        _shared["playwright"] = playwright
        atexit.register(_close_shared)
        _shared["browser"] = playwright.chromium.launch(executable_path=path, args=CHROMIUM_ARGS, headless=True)
    return _shared["browser"]


@pytest.fixture(scope="session")
def browser():
    """The shared headless Chromium."""
    return shared_browser()


class LiveServer:
    """A werkzeug server running `app` in a background thread."""

    def __init__(self, app):
        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, name="live-server", daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def live_server(app) -> Iterator[LiveServer]:
    """The test's `app` served over real HTTP on 127.0.0.1 (base URL in `.url`)."""
    with LiveServer(app) as server:
        yield server


@pytest.fixture
def page(browser):
    """A fresh tab in its own browser context (no cookies shared between tests), English UI."""
    context = browser.new_context(locale="en-US", viewport={"width": 1000, "height": 800})
    context.set_default_timeout(STEP_TIMEOUT_MS)
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    tab.js_errors = errors  # tests assert the page's own script raised nothing
    blocked: list[str] = []
    tab.on("console", lambda msg: blocked.append(msg.text) if "Content Security Policy" in msg.text else None)
    tab.csp_violations = blocked  # what the page's Content-Security-Policy refused to run or load
    yield tab
    context.close()


def login(page, base: str, username: str, password: str) -> None:
    """Log in through the admin login form (English), landing on the dashboard."""
    page.goto(base + "/admin/login?lang=en")
    page.fill("#username", username)
    page.fill("#password", password)
    page.click("#login-form button[type=submit]")
    page.wait_for_url("**/admin/")


def admin_at_phone_width(app, page, base: str, password: str, username: str = "admin") -> None:
    """Create an administrator, set a 375 px wide phone viewport, and log in as them."""
    from webapp.auth import create_user

    with app.app_context():
        create_user(username, password)
    page.set_viewport_size({"width": 375, "height": 740})
    login(page, base, username, password)


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    """A real (tiny) model file trained once per session on a synthetic 3-class dataset."""
    from tests.modelgen import split_dataset, train_tiny

    folder = tmp_path_factory.mktemp("tiny-model")
    root = split_dataset(folder / "dataset")
    return Path(train_tiny(root, folder / "models", epochs=4).model_path)


def activate_model(app, path: Path, name: str = "tiny") -> int:
    """Register `path` in the app's database as the active model; return its id."""
    from ml.predict import Predictor
    from webapp.registry import model_summary, register_model

    with app.app_context():
        info = dict(Predictor.load(path).info)
        return register_model(path, name=name, activate=True, **model_summary(info)).id
