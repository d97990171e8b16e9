"""Several classes crawled at once (`ml.crawl.crawl_together`) against the local fake Baidu, within shared polite limits."""

from __future__ import annotations

import threading
import time

from ml.crawl import CrawlConfig, PoliteLimits, crawl_together
from tests.fakebaidu import start_fake_baidu


class WatchedLimits(PoliteLimits):
    """The real shared limits, noting the most downloads in flight to one host and when each class progressed."""

    def __init__(self, config):
        super().__init__(config)
        self.most = 0
        self._watch = threading.Lock()
        self._load: dict[str, int] = {}

    def take_host(self, host):
        ok = super().take_host(host)
        if ok:
            with self._watch:
                self._load[host] = self._load.get(host, 0) + 1
                self.most = max(self.most, self._load[host])
        return ok

    def free_host(self, host):
        with self._watch:
            self._load[host] -= 1
        super().free_host(host)


def test_classes_crawl_at_once_and_share_the_per_host_limit(tmp_path):
    fake = start_fake_baidu(total=30, bad={}, image_hosts=1, latency=0.05)
    try:
        config = CrawlConfig(base_url=fake.base_url, page_delay=0.0, backoff=0.01, workers=4, per_host=2,
                             allow_networks=("127.0.0.0/8",))
        limits = WatchedLimits(config)
        seen: dict[str, list[float]] = {}

        def on_progress(p):
            for name, n in p.info["classes"].items():
                if n:
                    seen.setdefault(name, []).append(time.monotonic())

        outcomes = crawl_together([{"keywords": ["猫"], "class_name": "猫", "count": 6},
                                   {"keywords": ["狗"], "class_name": "dog", "count": 6}],
                                  tmp_path, config=config, on_progress=on_progress, limits=limits)
    finally:
        fake.stop()
    assert [(o.class_name, o.error, o.summary.total) for o in outcomes] == [("猫", None, 6), ("dog", None, 6)]
    for name in ("猫", "dog"):
        assert len([p for p in (tmp_path / name).iterdir() if not p.name.startswith(".")]) == 6
    # at once: each class had pictures before the other one was done
    assert seen["猫"][0] < seen["dog"][-1] and seen["dog"][0] < seen["猫"][-1]
    # two crawls of 4 threads each, yet never more than per_host downloads to the one picture host in all
    assert limits.most == 2


def test_a_blocked_class_does_not_stop_the_other(tmp_path):
    fake = start_fake_baidu(total=30, bad={}, block_after=1, require_cookie=False)
    try:
        config = CrawlConfig(base_url=fake.base_url, page_delay=0.0, backoff=0.01, retries=0,
                             allow_networks=("127.0.0.0/8",))
        outcomes = crawl_together([{"keywords": ["猫"], "class_name": "猫", "count": 5},
                                   {"keywords": ["狗"], "class_name": "dog", "count": 5}], tmp_path, config=config)
    finally:
        fake.stop()
    ends = sorted((o.error is None, o.summary.total if o.summary else 0) for o in outcomes)
    assert ends == [(False, 0), (True, 5)]  # one class blocked, the other filled its folder
    assert next(o for o in outcomes if o.error).error.code == "blocked_antiflag"
