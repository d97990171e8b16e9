"""`flask crawl` against the local fake Baidu: the issue's 'done when', blocks, bad input, the prompt."""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path

from ml.crawl import MANIFEST_NAME
from ml.images import load_image
from tests import fakebaidu

fake_baidu = fakebaidu.fake_baidu  # the fixture
REPO = Path(__file__).resolve().parent.parent
ALL_REASONS = ("not_image_type", "not_image", "truncated", "too_small", "too_many_pixels",
               "http_403", "http_404", "http_500", "timeout", "too_large", "connection_error")


def pictures(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if not p.name.startswith("."))


def test_crawl_60_then_nothing_new(runner, tmp_path, fake_baidu):
    # Pictures answer in 100 ms, so the slow one (timeout 0.3 s) is settled long before the 60th picture.
    fake = fake_baidu(latency=0.1, slow_seconds=3)
    args = ["crawl", "猫", "--count", "60", "--dataset", str(tmp_path), "--base-url", fake.base_url,
            "--allow-network", "127.0.0.0/8", "--page-delay", "0", "--timeout", "0.3", "--image-retries", "0", "--workers", "4"]
    result = runner.invoke(args=args)
    assert result.exit_code == 0, result.output
    folder = tmp_path / "猫"
    files = pictures(folder)
    assert len(files) == 60
    assert len({f.read_bytes() for f in files}) == 60
    for f in files:
        load_image(f)
    records = [json.loads(line) for line in (folder / MANIFEST_NAME).read_text(encoding="utf-8").splitlines()]
    assert sum(r["status"] == "saved" for r in records) == 60
    assert "Saved 60 new pictures" in result.output and "60/60" in result.output
    for reason in ALL_REASONS:
        assert reason in result.output, reason

    def site_requests():
        return sum(r["path"] in ("/", "/search/acjson") for r in fake.requests)

    before = site_requests()
    again = runner.invoke(args=args)
    assert again.exit_code == 0, again.output
    assert "nothing to do" in again.output
    assert len(pictures(folder)) == 60 and site_requests() == before


def test_a_blocked_crawl_exits_non_zero_with_one_clear_line(runner, tmp_path, fake_baidu):
    fake = fake_baidu(block_after=1, block_mode="captcha", bad={}, total=300)
    result = runner.invoke(args=["crawl", "猫", "--count", "100", "--dataset", str(tmp_path), "--base-url", fake.base_url,
                                 "--allow-network", "127.0.0.0/8", "--page-delay", "0", "--workers", "2"])
    assert result.exit_code == 1
    errors = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and "captcha" in errors[0] and "saved before stopping" in errors[0]
    assert "Traceback" not in result.output
    assert 0 < len(pictures(tmp_path / "猫")) <= 30


def test_bad_input_is_refused(runner, tmp_path, fake_baidu):
    fake = fake_baidu()
    base = ["--dataset", str(tmp_path), "--base-url", fake.base_url]
    no_keyword = runner.invoke(args=["crawl", *base])
    assert no_keyword.exit_code == 2 and "Give at least one keyword" in no_keyword.output
    zero = runner.invoke(args=["crawl", "猫", "--count", "0", *base])
    assert zero.exit_code == 2 and "--count" in zero.output
    bad_name = runner.invoke(args=["crawl", "猫", "--class-name", "a/b", *base])
    assert bad_name.exit_code == 1 and "Error: The class name 'a/b'" in bad_name.output
    bad_url = runner.invoke(args=["crawl", "猫", "--dataset", str(tmp_path), "--base-url", "ftp://x"])
    assert bad_url.exit_code == 1 and "base_url must start with http" in bad_url.output
    assert fake.requests == []


def test_without_keywords_in_a_terminal_it_asks_like_spider_py(tmp_path, fake_baidu):
    fake = fake_baidu(bad={})
    primary, secondary = pty.openpty()
    env = {**os.environ, "FLASK_APP": "wsgi", "ANIMALS_DATA_DIR": str(tmp_path / "data"), "PYTHONIOENCODING": "utf-8"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "flask", "crawl", "--dataset", str(tmp_path), "--base-url", fake.base_url, "--allow-network", "127.0.0.0/8",
         "--page-delay", "0"],
        cwd=REPO, stdin=secondary, stdout=secondary, stderr=secondary, env=env, close_fds=True,
    )
    os.close(secondary)
    output = b""
    answers = [("keyword", "猫，cat\n"), ("how many", "5\n")]
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([primary], [], [], 0.2)
            if ready:
                try:
                    chunk = os.read(primary, 4096)
                except OSError:
                    break  # the command finished and closed the terminal
                if not chunk:
                    break
                output += chunk
            if answers and answers[0][0] in output.decode("utf-8", "replace"):
                os.write(primary, answers.pop(0)[1].encode("utf-8"))
            if proc.poll() is not None and not ready:
                break
        assert proc.wait(timeout=30) == 0, output.decode("utf-8", "replace")
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(primary)
    text = output.decode("utf-8", "replace")
    assert "Saved 5 new pictures" in text
    assert len(pictures(tmp_path / "猫")) == 5
    searches = [r["query"] for r in fake.requests if r["path"] == "/search/acjson"]
    assert searches and "word=%E7%8C%AB" in searches[0]  # the first of the two typed keywords
