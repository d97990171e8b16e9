"""Talk to the search site: browser-like headers, cookie warm-up, retries with backoff, block checks."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urljoin

import requests

from .config import CrawlConfig
from .egress import Resolver, guarded_session
from .errors import CrawlBlocked, CrawlError
from .parse import ResultPage, is_captcha_url, parse_page

#: Statuses worth another try: the server is busy or briefly broken.
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
SEARCH_PATH = "/search/acjson"


def retry_after_seconds(value: str | None) -> float | None:
    """Seconds asked for by a `Retry-After` header (a number or an HTTP date), or None."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def backoff_delay(config: CrawlConfig, attempt: int, retry_after: float | None = None) -> float:
    """Exponential backoff with jitter for attempt 0, 1, 2…; a server's `Retry-After` wins when longer."""
    delay = config.backoff * (2**attempt) * (1 + random.random() * 0.5)
    if retry_after is not None:
        delay = max(delay, retry_after)
    return min(delay, config.backoff_max)


def request_with_retries(
    session: requests.Session,
    url: str,
    config: CrawlConfig,
    *,
    retries: int,
    sleep: Callable[[float], None] = time.sleep,
    **kwargs: Any,
) -> requests.Response:
    """GET `url`, retrying connection errors, timeouts, 429 and 5xx; other statuses come back as-is.

    The last failure is raised (a `requests` exception) or returned (a response with its status).
    """
    attempt = 0
    while True:
        try:
            response = session.get(url, timeout=config.timeout, **kwargs)
        except (requests.ConnectionError, requests.Timeout):
            if attempt >= retries:
                raise
            sleep(backoff_delay(config, attempt))
            attempt += 1
            continue
        if response.status_code not in RETRY_STATUSES or attempt >= retries:
            return response
        asked = retry_after_seconds(response.headers.get("Retry-After"))
        if asked is not None and asked > config.backoff_max:
            return response  # the server wants a longer pause than we are willing to sit through
        wait = backoff_delay(config, attempt, asked)
        response.close()
        sleep(wait)
        attempt += 1


def browser_headers(config: CrawlConfig) -> dict[str, str]:
    """Headers a desktop browser sends to image.baidu.com."""
    return {
        "User-Agent": config.user_agent,
        "Accept": "text/plain, */*; q=0.01",
        "Accept-Language": "zh-CN,zh;q=0.9,en;q=0.8",
        "Referer": config.base_url + "/",
    }


class SearchClient:
    """One search session against Baidu Images (or the fake at `config.base_url`)."""

    def __init__(self, config: CrawlConfig, session: requests.Session | None = None, resolver: Resolver | None = None):
        self.config = config
        self.session = session or guarded_session(config.egress_policy(resolver))
        self.session.headers.update(browser_headers(config))
        self.warmed = False
        self.pages_fetched = 0

    def close(self) -> None:
        self.session.close()

    def warm_up(self) -> None:
        """Visit the home page once so later searches carry its cookies (failures are not fatal)."""
        if self.warmed or not self.config.warm_up:
            return
        self.warmed = True
        try:
            response = request_with_retries(self.session, self.config.base_url + "/", self.config, retries=0)
            response.close()
        except requests.RequestException:
            pass  # the search itself will say whether we are welcome

    def search_params(self, keyword: str, offset: int) -> dict[str, str]:
        """Query string of one result page, as the browser sends it."""
        size = self.config.page_size
        return {
            "tn": "resultjson_com",
            "ipn": "rj",
            "ct": "201326592",
            "is": "",
            "fp": "result",
            "queryWord": keyword,
            "cl": "2",
            "lm": "-1",
            "ie": "utf-8",
            "oe": "utf-8",
            "st": "-1",
            "word": keyword,
            "face": "0",
            "istype": "2",
            "nc": "1",
            "pn": str(offset),
            "rn": str(size),
            "gsm": format(offset, "x"),
            str(int(time.time() * 1000)): "",
        }

    def fetch_page(self, keyword: str, offset: int) -> ResultPage:
        """One page of results at `offset`; raises CrawlBlocked on a block and CrawlError on failure."""
        self.warm_up()
        url = self.config.base_url + SEARCH_PATH
        try:
            response = request_with_retries(
                self.session,
                url,
                self.config,
                retries=self.config.retries,
                params=self.search_params(keyword, offset),
                headers={"X-Requested-With": "XMLHttpRequest"},
                allow_redirects=False,
            )
            # Follow redirects by hand: a captcha redirect must be seen even if its host is unreachable.
            for _ in range(5):
                if not response.is_redirect:
                    break
                target = urljoin(response.url, response.headers.get("Location", ""))
                response.close()
                if is_captcha_url(target):
                    raise CrawlBlocked(
                        "Baidu sent us to its captcha page (wappass): too many requests from this address. "
                        "Wait a while, then crawl more slowly (a larger page delay).",
                        code="blocked_captcha",
                    )
                response = request_with_retries(self.session, target, self.config, retries=0, allow_redirects=False)
        except requests.Timeout:
            raise CrawlError(
                f"The search for {keyword!r} timed out {self.config.retries + 1} times.", code="search_timeout"
            ) from None
        except requests.ConnectionError as exc:
            raise CrawlError(
                f"Cannot reach {self.config.base_url}: {_short(exc)}", code="search_unreachable"
            ) from None
        self.pages_fetched += 1
        if response.status_code == 403:
            raise CrawlBlocked("Baidu refused the search with HTTP 403.", code="blocked_http")
        if response.status_code in (429, 503) and response.headers.get("Retry-After"):
            raise CrawlError(
                f"Baidu asked us to pause for {response.headers['Retry-After']} seconds (HTTP {response.status_code}); "
                "try again later with a larger page delay.",
                code="search_busy",
            )
        if response.status_code != 200:
            raise CrawlError(
                f"The search for {keyword!r} failed with HTTP {response.status_code}.", code="search_failed"
            )
        # We ask for `oe=utf-8`; servers often omit the charset, and requests would then guess Latin-1.
        return parse_page(response.content.decode("utf-8", errors="replace"), query=keyword)


def _short(exc: Exception) -> str:
    text = str(exc)
    return text if len(text) < 160 else text[:157] + "..."
