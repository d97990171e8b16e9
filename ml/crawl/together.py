"""Crawl several classes at once, in threads that share one set of polite limits.

    crawl_together([{"keywords": ["猫"], "class_name": "猫", "count": 30}, ...], "datasets/pets", config=polite)

Each class is an ordinary `crawl` (its own folder, manifest, resume and `workers` download threads);
together they hold to the limits one `CrawlConfig` sets for the sites (`PoliteLimits`): `per_host`
downloads in flight per host in all, one result page per `page_delay` in all. A class that fails does
not stop the others.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from ..progress import Progress, ProgressFn, StopFn, report
from .config import CrawlConfig
from .crawler import PoliteLimits, crawl
from .egress import Resolver
from .errors import CrawlError
from .summary import CrawlSummary


@dataclass
class ClassOutcome:
    """One class's end: its summary (partial when it failed) and the error that stopped it, if any."""

    class_name: str
    summary: CrawlSummary | None
    error: CrawlError | None = None


def crawl_together(
    classes: list[dict[str, Any]],
    dataset_root: str | os.PathLike,
    *,
    config: CrawlConfig | None = None,
    on_progress: ProgressFn | None = None,
    should_stop: StopFn | None = None,
    resolver: Resolver | None = None,
    limits: PoliteLimits | None = None,
) -> list[ClassOutcome]:
    """Crawl every class ({"keywords", "class_name", "count"}) concurrently; one outcome per class, in order.

    Progress is the pictures of all classes together, with each class's own in `info["classes"]`.
    Cancellation (`should_stop`) stops every class and raises `Cancelled` once they have all stopped.
    `limits`: the shared limits (by default those of `config`).
    """
    config = config or CrawlConfig()
    limits = limits or PoliteLimits(config)
    names = [c["class_name"] for c in classes]
    done = {name: 0 for name in names}
    wanted = {c["class_name"]: int(c["count"]) for c in classes}
    lock = threading.Lock()

    def progress_of(name: str) -> ProgressFn:
        def on_class(p: Progress) -> None:
            with lock:
                done[name] = min(p.done, wanted[name])
                report(on_progress, "crawl", sum(done.values()), sum(wanted.values()), classes=dict(done))
        return on_class

    def one(spec: dict[str, Any]) -> ClassOutcome:
        name = spec["class_name"]
        try:
            summary = crawl(spec["keywords"], dataset_root, class_name=name, count=int(spec["count"]), config=config,
                            on_progress=progress_of(name), should_stop=should_stop, resolver=resolver, limits=limits)
        except CrawlError as exc:
            return ClassOutcome(name, getattr(exc, "summary", None), exc)
        return ClassOutcome(name, summary)

    with ThreadPoolExecutor(max(len(classes), 1), thread_name_prefix="crawl-class") as pool:
        futures = [pool.submit(one, spec) for spec in classes]
        outcomes, stopped = [], None
        for future in futures:
            try:
                outcomes.append(future.result())
            except BaseException as exc:  # noqa: BLE001 - Cancelled (or a crash): after the other classes stop
                stopped = stopped or exc
    if stopped is not None:
        raise stopped
    return outcomes
