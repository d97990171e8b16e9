"""Crawl search results for some keywords into one class folder, concurrently, deduplicated, resumable."""

from __future__ import annotations

import os
import threading
import time
from collections import Counter, deque
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ..errors import Cancelled
from ..progress import ProgressFn, StopFn, check_stop, report
from .client import SearchClient
from .config import CrawlConfig
from .download import Downloader, Fetched, Rejected
from .egress import Resolver
from .errors import CrawlBlocked, CrawlError
from .folder import FolderIndex, check_class_name, check_keywords, folder_lock
from .manifest import Manifest, remove_partial_files, write_partial
from .parse import Candidate
from .summary import CrawlSummary

#: Reasons that may pass with time (network, overloaded server): a later run tries those URLs again.
TRANSIENT_REASONS = frozenset(
    {"timeout", "connection_error", "http_429", "http_500", "http_502", "http_503", "http_504"}
)
_POLL = 0.2


def crawl(
    keywords: list[str],
    dataset_root: str | os.PathLike,
    *,
    class_name: str | None = None,
    count: int = 60,
    config: CrawlConfig | None = None,
    on_progress: ProgressFn | None = None,
    should_stop: StopFn | None = None,
    resolver: Resolver | None = None,
    limits: PoliteLimits | None = None,
) -> CrawlSummary:
    """Fill `dataset_root/<class_name or keywords[0]>` up to `count` usable, distinct pictures.

    Every connection goes through the egress guard of `config` (`resolver`: how host names are
    looked up, the system's by default). `limits`: polite limits shared with crawls running beside
    this one (`ml.crawl.together`); by default this crawl's own.
    """
    words = check_keywords(keywords)
    name = check_class_name(class_name if class_name is not None else words[0])
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise CrawlError(f"The count must be a whole number of at least 1 (got {count!r}).", code="bad_count")
    root = Path(dataset_root)
    if root.exists() and not root.is_dir():
        raise CrawlError(f"The dataset path {root} is a file, not a folder.", code="bad_dataset")
    folder = root / name
    folder.mkdir(parents=True, exist_ok=True)
    with folder_lock(folder):
        config = config or CrawlConfig()
        return _Crawl(words, folder, name, count, config, on_progress, should_stop, resolver,
                      limits or PoliteLimits(config)).run()


class PoliteLimits:
    """The limits of `CrawlConfig` that protect the sites, shareable by several crawls in threads: at most
    `per_host` downloads in flight to any one host, and one result page per `page_delay`, in total.

    (Each crawl keeps its own `workers` download threads: those spend this machine, not the sites.)
    """

    def __init__(self, config: CrawlConfig):
        self.per_host, self.page_delay = config.per_host, config.page_delay
        self._lock = threading.Lock()
        self._host_load: Counter[str] = Counter()
        self._last_page = float("-inf")

    def take_host(self, host: str) -> bool:
        """Claim a download slot on `host`; False when it already has `per_host` in flight."""
        with self._lock:
            if self._host_load[host] >= self.per_host:
                return False
            self._host_load[host] += 1
            return True

    def free_host(self, host: str) -> None:
        with self._lock:
            self._host_load[host] -= 1

    def page_wait(self) -> float:
        """Seconds before the next result page may be fetched (0 or less: now)."""
        with self._lock:
            return self._last_page + self.page_delay - time.monotonic()

    def take_page(self) -> bool:
        """Claim the next result page's turn; False when another crawl took it meanwhile."""
        with self._lock:
            now = time.monotonic()
            if self._last_page + self.page_delay > now:
                return False
            self._last_page = now
            return True


class _Crawl:
    """The state of one run; only the calling thread touches it (workers only fetch and decode)."""

    def __init__(self, words, folder: Path, name: str, count: int, config: CrawlConfig, on_progress, should_stop,
                 resolver: Resolver | None, limits: PoliteLimits):
        self.words, self.folder, self.count, self.config = words, folder, count, config
        self.resolver = resolver
        self.on_progress, self.should_stop = on_progress, should_stop
        self.summary = CrawlSummary(class_name=name, folder=str(folder), keywords=list(words), count=count)
        self.queue: deque[Candidate] = deque()
        self.inflight: dict[Future, Candidate] = {}
        self.limits = limits
        self.keyword_index = 0
        self.offset = 0
        #: Set when the run ends, so downloads still running do not go on to fallback URLs.
        self.abandoned = threading.Event()

    # -- the run -------------------------------------------------------------------------------

    def run(self) -> CrawlSummary:
        started = time.monotonic()
        remove_partial_files(self.folder)
        self.manifest = Manifest(self.folder)
        self.index = FolderIndex.build(self.folder, self.manifest, self.config)
        self.prior_urls = frozenset(self.manifest.known_urls)
        self.seen_urls = set(self.prior_urls)
        self.summary.existing = len(self.index)
        self.need = self.count - self.summary.existing
        if self.need <= 0:
            self.summary.message = f"'{self.summary.class_name}' already holds {self.summary.existing} pictures; nothing to do."
            self._report()
            return self.summary
        self.client = SearchClient(self.config, resolver=self.resolver)
        self.downloader = Downloader(self.config, resolver=self.resolver)
        pool = ThreadPoolExecutor(self.config.workers, thread_name_prefix="crawl")
        try:
            self._loop(pool)
        except (CrawlError, Cancelled, KeyboardInterrupt) as exc:
            interrupted = not isinstance(exc, CrawlError)
            if not interrupted:
                self._drain()  # keep what is already on its way
            self.summary.blocked = isinstance(exc, CrawlBlocked)
            self.summary.stopped = getattr(exc, "code", "interrupted")
            self.summary.message = self._stop_message(exc)
            self.summary.elapsed = round(time.monotonic() - started, 3)
            exc.summary = self.summary  # type: ignore[union-attr]
            if isinstance(exc, CrawlError):
                exc.args = (self.summary.message,)
            raise
        finally:
            # Downloads still running are not waited for; whatever they stage is thrown away.
            self.abandoned.set()
            for future, candidate in self.inflight.items():
                future.add_done_callback(_discard_result)
                self.limits.free_host(_host(candidate.url))  # crawls beside this one may use the host now
            pool.shutdown(wait=False, cancel_futures=True)
            self.client.close()
            self.downloader.close()
        self.summary.elapsed = round(time.monotonic() - started, 3)
        s = self.summary
        if s.downloaded >= self.need:
            s.message = f"Saved {s.downloaded} new pictures; '{s.class_name}' now holds {s.total}."
        else:
            s.stopped = "exhausted"
            s.message = (
                f"The search ran out of results: saved {s.downloaded} new pictures, '{s.class_name}' holds "
                f"{s.total} of the {self.count} asked for. Add more keywords to find more."
            )
        return s

    def _loop(self, pool: ThreadPoolExecutor) -> None:
        self._report()
        while self.summary.downloaded < self.need:
            check_stop(self.should_stop)
            self._submit(pool)
            pages_left = self.keyword_index < len(self.words)
            want_page = pages_left and len(self.queue) < self.config.workers
            wait_left = self.limits.page_wait()
            if want_page and wait_left <= 0:
                if self.limits.take_page():
                    self._next_page()
                continue
            if not self.inflight:
                if not want_page and not self.queue:
                    return  # nothing queued, nothing in flight, no pages left: results exhausted
                # waiting for the next page's turn, or for a host slot a crawl beside this one holds
                time.sleep(min(max(wait_left, 0.01), _POLL) if want_page else 0.02)
                continue
            timeout = min(wait_left, _POLL) if want_page else _POLL
            done, _ = wait(list(self.inflight), timeout=max(timeout, 0.001), return_when=FIRST_COMPLETED)
            for future in done:
                self._finish(future)

    def _drain(self) -> None:
        """Let downloads already in flight finish (each is bounded by the timeouts) and keep them."""
        self.queue.clear()
        while self.inflight and self.summary.downloaded < self.need:
            done, _ = wait(list(self.inflight), return_when=FIRST_COMPLETED)
            for future in done:
                self._finish(future)

    # -- pages ---------------------------------------------------------------------------------

    def _next_page(self) -> None:
        word = self.words[self.keyword_index]
        page = self.client.fetch_page(word, self.offset)
        self.summary.pages += 1
        self.offset += self.config.page_size
        exhausted = (
            not page.candidates
            or self.offset >= self.config.max_offset
            or (page.total and self.offset >= page.total)
        )
        if exhausted:
            self.keyword_index += 1
            self.offset = 0
        for candidate in page.candidates:
            urls = [u for u in candidate.urls if u not in self.seen_urls]
            if not urls or candidate.urls[0] in self.seen_urls:
                if candidate.urls[0] in self.prior_urls:
                    self.summary.skipped += 1  # handled by an earlier run
                else:
                    self.summary.duplicates += 1  # the same URL again (another keyword, another page)
                continue
            self.seen_urls.update(urls)
            candidate.urls = urls
            self.queue.append(candidate)
            self.summary.found += 1
        self._report()

    # -- downloads -----------------------------------------------------------------------------

    def _submit(self, pool: ThreadPoolExecutor) -> None:
        # Over-fetch a little (many results are dead), but not a whole pool for the last picture.
        limit = min(self.config.workers, 2 * (self.need - self.summary.downloaded))
        skipped: list[Candidate] = []
        while self.queue and len(self.inflight) < limit:
            candidate = self.queue.popleft()
            host = _host(candidate.url)
            if not self.limits.take_host(host):
                skipped.append(candidate)
                continue
            future = pool.submit(_fetch_first_usable, self.downloader, candidate, self.folder, self.abandoned)
            self.inflight[future] = candidate
        self.queue.extendleft(reversed(skipped))

    def _finish(self, future: Future) -> None:
        candidate = self.inflight.pop(future)
        self.limits.free_host(_host(candidate.url))
        fetched, failures = future.result()
        if fetched is None and not failures:
            return  # abandoned before trying anything
        record: dict[str, Any] = {
            "url": fetched.url if fetched else candidate.url,
            "source": candidate.source,
            "query": candidate.query,
            "tried": [url for url, _ in failures],
        }
        if fetched is None:
            reason = failures[0][1].reason
            self.summary.rejected[reason] = self.summary.rejected.get(reason, 0) + 1
            status = "failed" if all(f.reason in TRANSIENT_REASONS for _, f in failures) else "rejected"
            self.manifest.append(record | {"status": status, "reason": reason, "detail": failures[0][1].message})
        elif self.summary.downloaded >= self.need:
            _discard(fetched)
            return  # target met by another download meanwhile; leave this one for a later run
        else:
            self._keep(fetched, record, fallback=bool(failures))
        self._report()

    def _keep(self, fetched: Fetched, record: dict[str, Any], *, fallback: bool) -> None:
        record |= {"sha256": fetched.sha256, "phash": fetched.phash, "width": fetched.width, "height": fetched.height}
        twin = self.index.duplicate_of(fetched.sha256, fetched.phash)
        if twin is not None:
            _discard(fetched)
            self.summary.duplicates += 1
            self.manifest.append(record | {"status": "duplicate", "duplicate_of": twin})
            return
        name = fetched.sha256[:16] + fetched.extension
        os.replace(fetched.staged, self.folder / name)
        fetched.staged = None
        self.manifest.append(record | {"status": "saved", "file": name, "size": fetched.size})
        self.index.add(name, fetched.sha256, fetched.phash)
        self.summary.downloaded += 1
        self.summary.fallbacks += int(fallback)

    # -- reporting -----------------------------------------------------------------------------

    def _report(self) -> None:
        s = self.summary
        report(
            self.on_progress,
            "crawl",
            min(s.total, self.count),
            self.count,
            found=s.found,
            downloaded=s.downloaded,
            rejected=s.rejected_total,
            duplicates=s.duplicates,
            pages=s.pages,
        )

    def _stop_message(self, exc: BaseException) -> str:
        s = self.summary
        kept = f"{s.downloaded} new pictures saved before stopping; '{s.class_name}' holds {s.total}."
        if isinstance(exc, CrawlError):
            return f"{exc.message} {kept}"
        return f"Stopped on request. {kept}"


def _host(url: str) -> str:
    return (urlsplit(url).hostname or "").lower()


def _discard(fetched: Fetched) -> None:
    if fetched.staged is not None:
        fetched.staged.unlink(missing_ok=True)
        fetched.staged = None


def _discard_result(future: Future) -> None:
    if not future.cancelled() and future.exception() is None:
        fetched, _ = future.result()
        if fetched is not None:
            _discard(fetched)


def _fetch_first_usable(
    downloader: Downloader, candidate: Candidate, folder: Path, abandoned: threading.Event
) -> tuple[Fetched | None, list[tuple[str, Rejected]]]:
    """Try the candidate's URLs in order; return the first usable picture (staged in a temporary file
    of `folder`, so writing to disk runs in parallel too) and the failures before it."""
    failures: list[tuple[str, Rejected]] = []
    for url in candidate.urls:
        if abandoned.is_set():
            break
        try:
            fetched = downloader.fetch(url)
            if abandoned.is_set():
                break  # the run is over; do not leave a file behind
            fetched.staged = write_partial(folder, fetched.data)
            fetched.data = b""  # the bytes now live in the staged file
            return fetched, failures
        except Rejected as exc:
            failures.append((url, exc))
        except Exception as exc:  # noqa: BLE001 - one odd file must not end a long crawl; it is counted
            failures.append((url, Rejected("unexpected_error", f"{url}: {type(exc).__name__}: {exc}")))
    return None, failures

