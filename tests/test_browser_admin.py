"""The admin dashboard in real headless Chromium: a running job's progress bar moves without reloading."""

from __future__ import annotations

import os
import signal
import subprocess

import pytest

from tests import browser_support
from tests.web_support import enqueue_raw, start_worker_process

browser_support.require_browser()  # the whole module skips (one summary line) without Chromium

browser, live_server, page = browser_support.browser, browser_support.live_server, browser_support.page

pytestmark = pytest.mark.timeout(180)
PASSWORD = "browser-test-password"


@pytest.fixture
def worker(app):
    """A real `flask worker` process on the app's Redis and database; stopped (whole group) afterwards."""
    proc = start_worker_process(app)
    yield proc
    # RQ: a first SIGTERM waits for the running job, a second one stops it now.
    for sig, wait in ((signal.SIGTERM, 1), (signal.SIGTERM, 10), (signal.SIGKILL, 10)):
        if proc.poll() is not None:
            break
        os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            continue


def _bar_width(page, job_id: str) -> float:
    return page.eval_on_selector(
        f'tr[data-job-id="{job_id}"] .progress-bar', "b => parseFloat(b.style.width) || 0"
    )


def test_admin_progress_bar_moves(app, live_server, page, worker):
    from webapp.auth import create_user

    with app.app_context():
        create_user("admin", PASSWORD)
    job_id = enqueue_raw(app, "tests.web_support.slow_job", {"steps": 100, "delay": 0.1})

    page.goto(live_server.url + "/admin/login?lang=en")
    page.fill("#username", "admin")
    page.fill("#password", PASSWORD)
    page.click("#login-form button[type=submit]")
    page.wait_for_selector(f'tr[data-job-id="{job_id}"]')
    url_before = page.url

    # The worker starts (a few seconds), then the page's polling moves the bar forward, twice.
    page.wait_for_function(
        f"""() => parseFloat(document.querySelector('tr[data-job-id="{job_id}"] .progress-bar').style.width) > 0""",
        timeout=60_000,
    )
    first = _bar_width(page, job_id)
    page.wait_for_function(
        f"""w => parseFloat(document.querySelector('tr[data-job-id="{job_id}"] .progress-bar').style.width) > w + 5""",
        arg=first,
        timeout=30_000,
    )
    second = _bar_width(page, job_id)
    assert 0 < first < second <= 100
    assert page.url == url_before  # updated in place by polling, not by reloading
    assert page.get_attribute(f'tr[data-job-id="{job_id}"] .progress', "aria-valuenow") not in (None, "0")
