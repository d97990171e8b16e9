"""The crawler end to end against the local fake Baidu: downloads, rejections, dedup, resume, blocks."""

from __future__ import annotations

import itertools
import json
import time
from urllib.parse import urlsplit

import imagehash
import pytest

from ml.crawl import MANIFEST_NAME, CrawlBlocked, CrawlConfig, CrawlError, crawl
from ml.errors import Cancelled
from ml.images import load_image
from tests import fakebaidu, imagegen
from tests.fakebaidu import DEFAULT_BAD

fake_baidu = fakebaidu.fake_baidu  # the fixture: fake_baidu(**options) starts a server

#: What each bad kind must be counted as (kinds that end in a saved picture are absent).
EXPECTED_REJECTIONS = {
    "not_image_type": 1,  # html
    "not_image": 1,  # html_as_jpeg
    "truncated": 1,
    "too_small": 1,  # tiny
    "too_many_pixels": 1,  # bomb
    "http_403": 1,
    "http_404": 1,
    "http_500": 1,
    "timeout": 1,  # slow
    "too_large": 1,  # oversize
    "too_slow": 1,  # trickle
    "connection_error": 1,  # reset
}


def fast(fake, **overrides) -> CrawlConfig:
    """Settings that keep tests quick: short timeouts, no page delay, tiny backoff."""
    settings = dict(base_url=fake.base_url, timeout=(2, 0.4), page_delay=0.0, backoff=0.01, backoff_max=2.0, image_retries=0,
                    allow_networks=("127.0.0.0/8",))  # the fake serves from loopback: let the egress guard pass it
    settings.update(overrides)
    return CrawlConfig(**settings)


def pictures(folder):
    return sorted(p for p in folder.iterdir() if not p.name.startswith("."))


def no_partial_files_soon(folder, seconds: float = 2.0) -> bool:
    """A download thread still finishing when the run returned removes its temporary file itself."""
    deadline = time.monotonic() + seconds
    while list(folder.glob(".part-*")) and time.monotonic() < deadline:
        time.sleep(0.05)
    return not list(folder.glob(".part-*"))


def manifest_records(folder):
    return [json.loads(line) for line in (folder / MANIFEST_NAME).read_text(encoding="utf-8").splitlines()]


def test_every_bad_kind_is_rejected_and_counted_and_saved_pictures_are_distinct(tmp_path, fake_baidu):
    # 40 results: every special kind plus plain pictures, fewer than asked, so every result is handled.
    fake = fake_baidu(total=40, oversize_bytes=3 * 1024 * 1024)
    summary = crawl(["猫"], tmp_path, count=60, config=fast(fake, max_bytes=2 * 1024 * 1024, download_deadline=0.8))

    assert summary.rejected == EXPECTED_REJECTIONS
    assert summary.duplicates == 3  # same bytes, near duplicate, same URL
    assert summary.downloaded == 40 - len(DEFAULT_BAD) + 3  # redirect, gimg wrapper and dead objURL still give pictures
    assert summary.fallbacks == 1  # the dead objURL, saved from Baidu's thumbnail
    assert summary.stopped == "exhausted" and not summary.blocked
    assert "ran out of results" in summary.message

    folder = tmp_path / "猫"
    files = pictures(folder)
    assert len(files) == summary.downloaded
    assert {f.suffix for f in files} == {".jpg", ".png", ".webp"}
    hashes = [imagehash.phash(load_image(f)) for f in files]
    assert all(a - b > 6 for a, b in itertools.combinations(hashes, 2))

    records = manifest_records(folder)
    saved = [r for r in records if r["status"] == "saved"]
    assert sorted(r["file"] for r in saved) == sorted(f.name for f in files)
    assert all(r["query"] == "猫" and r["source"].startswith("http://www.example.com/") for r in saved)
    assert {r["reason"] for r in records if r["status"] in ("rejected", "failed")} == set(EXPECTED_REJECTIONS)
    # The repeated URL was fetched once; the gimg2 wrapper was unwrapped to the real host.
    assert fake.count("/0-good.jpg") == 1
    assert any("-gimg." in r["url"] and r["url"].startswith("http://127.0.0.") for r in saved)


def test_count_is_met_exactly_and_a_second_run_fetches_nothing(tmp_path, fake_baidu):
    fake = fake_baidu()
    first = crawl(["猫"], tmp_path, count=30, config=fast(fake))
    assert first.downloaded == 30 and first.total == 30 and first.stopped == ""
    assert len(pictures(tmp_path / "猫")) == 30
    def site_requests():
        return sum(r["path"] in ("/", "/search/acjson") for r in fake.requests)

    before = site_requests()
    second = crawl(["猫"], tmp_path, count=30, config=fast(fake))
    assert second.downloaded == 0 and second.existing == 30
    assert "nothing to do" in second.message
    assert site_requests() == before  # not even a warm-up or a search


def test_resume_after_an_interruption_loses_nothing_and_refetches_nothing(tmp_path, fake_baidu):
    fake = fake_baidu(bad={}, latency=0.02)
    seen = []

    def stop_after_ten():
        return bool(seen) and seen[-1].info["downloaded"] >= 10

    with pytest.raises(Cancelled) as info:
        crawl(["猫"], tmp_path, count=50, config=fast(fake, workers=4), on_progress=seen.append, should_stop=stop_after_ten)
    kept = info.value.summary
    folder = tmp_path / "猫"
    assert kept.downloaded >= 10 and kept.stopped == "cancelled"
    files = pictures(folder)
    saved = [r for r in manifest_records(folder) if r["status"] == "saved"]
    assert sorted(r["file"] for r in saved) == sorted(f.name for f in files)  # manifest consistent with the folder
    assert no_partial_files_soon(folder)
    for f in files:
        load_image(f)
    first_paths = {urlsplit(r["url"]).path for r in saved}

    mark = len(fake.requests)
    again = crawl(["猫"], tmp_path, count=50, config=fast(fake))
    assert again.existing == len(files) and again.downloaded == 50 - len(files)
    assert again.skipped >= len(files)
    fetched_again = {r["path"] for r in fake.requests[mark:] if r["path"].startswith("/img/")}
    assert fetched_again and not first_paths & fetched_again
    assert len(pictures(folder)) == 50


@pytest.mark.parametrize(
    ("mode", "code", "words"),
    [("antiflag", "blocked_antiflag", "Forbid spider access"), ("captcha", "blocked_captcha", "captcha"), ("html", "blocked_not_json", "not search results")],
)
def test_a_block_stops_the_run_and_keeps_what_was_saved(tmp_path, fake_baidu, mode, code, words):
    fake = fake_baidu(bad={}, total=300, block_after=1, block_mode=mode)
    with pytest.raises(CrawlBlocked) as info:
        crawl(["猫"], tmp_path, count=100, config=fast(fake, workers=2, retries=3))
    exc = info.value
    assert exc.code == code and words in exc.message
    assert exc.summary.blocked and exc.summary.stopped == code
    assert 0 < exc.summary.downloaded <= 30
    assert len(pictures(tmp_path / "猫")) == exc.summary.downloaded
    assert fake.count("/search/acjson") == 2  # one page served, one block, no retry loop


def test_missing_cookie_warm_up_is_refused_with_antiflag(tmp_path, fake_baidu):
    fake = fake_baidu(bad={})
    with pytest.raises(CrawlBlocked, match="antiFlag") as info:
        crawl(["猫"], tmp_path, count=5, config=fast(fake, warm_up=False))
    assert info.value.summary.downloaded == 0
    # With the warm-up the same server answers, and the search carried browser headers.
    crawl(["猫"], tmp_path, count=5, config=fast(fake))
    search = next(r for r in fake.requests if r["path"] == "/search/acjson" and "BAIDUID" in r["headers"].get("Cookie", ""))
    assert search["headers"]["Accept-Language"].startswith("zh-CN")
    assert search["headers"]["Referer"].startswith(fake.base_url)
    assert "Mozilla/5.0" in search["headers"]["User-Agent"]
    for needed in ("tn=resultjson_com", "ipn=rj", "rn=30", "pn=0", "gsm=0", "fp=result", "ie=utf-8", "oe=utf-8"):
        assert needed in search["query"]


def test_busy_search_is_retried_after_retry_after(tmp_path, fake_baidu):
    fake = fake_baidu(bad={}, fail_searches=1, retry_after="1")
    started = time.monotonic()
    summary = crawl(["猫"], tmp_path, count=3, config=fast(fake))
    assert summary.downloaded == 3
    assert time.monotonic() - started >= 1.0
    assert fake.count("/search/acjson") == 2


def test_retries_are_bounded(tmp_path, fake_baidu):
    fake = fake_baidu(bad={}, fail_searches=10, retry_after="0")
    with pytest.raises(CrawlError, match="HTTP 503") as info:
        crawl(["猫"], tmp_path, count=3, config=fast(fake, retries=2))
    assert info.value.code == "search_busy" and not info.value.summary.blocked
    assert fake.count("/search/acjson") == 3


def test_a_retry_after_longer_than_we_wait_is_not_retried(tmp_path, fake_baidu):
    fake = fake_baidu(bad={}, fail_searches=10, retry_after="3600")
    started = time.monotonic()
    with pytest.raises(CrawlError, match="pause for 3600 seconds") as info:
        crawl(["猫"], tmp_path, count=3, config=fast(fake, retries=3, backoff_max=5))
    assert info.value.code == "search_busy" and time.monotonic() - started < 3
    assert fake.count("/search/acjson") == 1


def test_other_4xx_on_the_search_is_not_retried(tmp_path, fake_baidu):
    fake = fake_baidu(bad={})
    with pytest.raises(CrawlError, match="failed with HTTP 404") as info:
        crawl(["猫"], tmp_path, count=3, config=fast(fake, base_url=fake.base_url + "/gone", retries=3))
    assert info.value.code == "search_failed"
    assert fake.count("/gone/search/acjson") == 1


def test_no_retry_on_4xx_but_retry_on_5xx(tmp_path, fake_baidu):
    fake = fake_baidu(total=12, bad={1: "403", 2: "404", 3: "500"})
    crawl(["猫"], tmp_path, count=20, config=fast(fake, image_retries=2))
    assert fake.count("/1-403.jpg") == 1 and fake.count("/thumb/e78cab/1.jpg") == 1
    assert fake.count("/2-404.jpg") == 1
    assert fake.count("/3-500.jpg") == 3


def test_several_keywords_fill_one_class_folder(tmp_path, fake_baidu):
    # Baidu gives 家猫 largely the same pictures as 猫; cat gives others.
    fake = fake_baidu(bad={}, total=20, same_results={"家猫": "猫"})
    summary = crawl(["猫", "cat", "家猫"], tmp_path, class_name="猫咪 Cats", count=100, config=fast(fake))
    assert summary.class_name == "猫咪 Cats" and summary.folder.endswith("猫咪 Cats")
    assert summary.downloaded == 40 and summary.duplicates == 20
    assert len(pictures(tmp_path / "猫咪 Cats")) == 40
    queries = {r["query"] for r in manifest_records(tmp_path / "猫咪 Cats") if r["status"] == "saved"}
    assert queries == {"猫", "cat"}


def test_near_duplicates_of_pictures_already_in_the_folder_are_skipped(tmp_path, fake_baidu):
    fake = fake_baidu(bad={}, total=5)
    folder = tmp_path / "猫"
    folder.mkdir()
    first = fake.good_picture("猫".encode().hex(), 0, "jpg")
    (folder / "mine.jpg").write_bytes(imagegen.near_duplicate(first))
    (folder / "broken.jpg").write_bytes(imagegen.truncated_jpeg())
    summary = crawl(["猫"], tmp_path, count=10, config=fast(fake))
    assert summary.existing == 1  # the broken file does not count
    assert summary.duplicates == 1 and summary.downloaded == 4
    dup = next(r for r in manifest_records(folder) if r["status"] == "duplicate")
    assert dup["duplicate_of"] == "mine.jpg"


def test_newer_json_variant_is_crawled_too(tmp_path, fake_baidu):
    fake = fake_baidu(bad={}, total=8, variant="new")
    summary = crawl(["猫"], tmp_path, count=8, config=fast(fake))
    assert summary.downloaded == 8


def test_progress_reports_count_up_to_the_target(tmp_path, fake_baidu):
    fake = fake_baidu(total=30)
    seen = []
    crawl(["猫"], tmp_path, count=12, config=fast(fake), on_progress=seen.append)
    assert {p.stage for p in seen} == {"crawl"} and {p.total for p in seen} == {12}
    dones = [p.done for p in seen]
    assert dones == sorted(dones) and dones[-1] == 12
    assert {"found", "rejected", "duplicates", "downloaded"} <= set(seen[-1].info)


def test_per_host_cap_also_holds_for_fallback_urls(tmp_path, fake_baidu):
    # Every original is dead, so every picture comes from the thumbnails, all on one host.
    fake = fake_baidu(bad={i: "dead_obj" for i in range(30)}, total=30, latency=0.05)
    summary = crawl(["猫"], tmp_path, count=20, config=fast(fake, workers=8, per_host=3))
    assert summary.fallbacks == 20
    assert fake.peak[fake.base_url.split("//")[1].split(":")[0]] == 3


def test_per_host_cap_holds_and_page_delay_is_kept(tmp_path, fake_baidu):
    fake = fake_baidu(bad={}, total=60, image_hosts=1, latency=0.05)
    crawl(["猫"], tmp_path, count=40, config=fast(fake, workers=8, per_host=2, page_delay=0.3))
    assert max(fake.peak.values()) == 2
    times = [r["time"] for r in fake.requests if r["path"] == "/search/acjson"]
    assert len(times) >= 2 and all(b - a >= 0.29 for a, b in zip(times, times[1:]))


def test_bad_requests_fail_clearly(tmp_path, fake_baidu):
    fake = fake_baidu()
    config = fast(fake)
    cases = [
        (dict(keywords=[" "]), "bad_keyword"),
        (dict(keywords=["猫"], count=0), "bad_count"),
        (dict(keywords=["猫"], count="60"), "bad_count"),
        (dict(keywords=["猫"], class_name="../escape"), "bad_class_name"),
    ]
    for kwargs, code in cases:
        with pytest.raises(CrawlError) as info:
            crawl(dataset_root=tmp_path, config=config, **kwargs)
        assert info.value.code == code
    a_file = tmp_path / "file.txt"
    a_file.write_text("x")
    with pytest.raises(CrawlError, match="is a file") as info:
        crawl(["猫"], a_file, config=config)
    assert fake.requests == []


def test_unreachable_site_is_a_clear_error(tmp_path):
    config = CrawlConfig(base_url="http://127.0.0.1:9", timeout=(0.5, 0.5), retries=1, backoff=0.01, page_delay=0,
                         allow_networks=("127.0.0.1",))
    with pytest.raises(CrawlError, match="Cannot reach http://127.0.0.1:9") as info:
        crawl(["猫"], tmp_path, count=3, config=config)
    assert info.value.code == "search_unreachable"
    assert pictures(tmp_path / "猫") == []


def test_downloads_still_running_at_the_end_leave_nothing_behind(tmp_path, fake_baidu):
    # Result 1 answers after 0.6 s, within the timeout but after the two pictures asked for are saved.
    fake = fake_baidu(bad={1: "slow"}, total=10, slow_seconds=0.6)
    summary = crawl(["猫"], tmp_path, count=2, config=fast(fake, timeout=(2, 3), workers=4))
    assert summary.downloaded == 2
    deadline = time.monotonic() + 5
    while any(fake.active.values()) and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)
    folder = tmp_path / "猫"
    assert len(pictures(folder)) == 2
    assert not list(folder.glob(".part-*"))
