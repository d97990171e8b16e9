"""Crawling, declared once: what to fetch into which class (`flask crawl`, the admin form, the API, `jobs.crawl`).

How politely and patiently to fetch (threads, timeouts, retries, the egress guard) is
`ml.crawl.CrawlConfig`, set by the deployment (CRAWL_OPTIONS) and by `flask crawl`'s own flags.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from ..errors import MLError
from .fields import N_, Config, setting
from .names import clean_name

#: What separates several keywords typed in one field ("猫, cat；家猫").
KEYWORD_SEPARATORS = re.compile(r"[,，、;；\n]+")


def split_keywords(text: str | list[str] | tuple[str, ...]) -> list[str]:
    """Keywords from one typed line (or a list of them), trimmed, empty ones dropped."""
    items = [text] if isinstance(text, str) else list(text or [])
    if not all(isinstance(item, str) for item in items):
        raise MLError("Bad setting keywords: keywords must be text.", code="bad_config")
    return [w for item in items for w in (p.strip() for p in KEYWORD_SEPARATORS.split(item)) if w]


@dataclass
class CrawlRequest(Config):
    """Which pictures to fetch, into which class folder, and how many the folder should hold."""

    what = "crawl setting"

    keywords: list[str] = setting(default_factory=list, web=True, required=True, cli=False,
                                  label=N_("Keywords (comma separated)"),
                                  help="Search keywords (several: 猫, cat, 家猫).")
    class_name: str | None = setting(None, web=True, label=N_("Class name"), hint=N_("the first keyword"),
                                     help="Class folder name (default: the first keyword).")
    count: int = setting(60, low=1, high=2000, web=True, label=N_("How many"),
                         help="Pictures the class folder should hold.")

    def __post_init__(self) -> None:
        if isinstance(self.keywords, (str, tuple)):
            self.keywords = split_keywords(self.keywords)

    def check(self) -> None:
        if not self.keywords:
            raise MLError("Bad setting keywords: give at least one search keyword.", code="bad_config")
        self.keywords = split_keywords(self.keywords)
        if self.class_name is not None:
            self.class_name = clean_name(self.class_name, "The class name", code="bad_class_name")

    def with_class_name(self) -> CrawlRequest:
        """A copy whose class name is filled in (the first keyword) and held to the name rule."""
        return replace(self, class_name=clean_name(self.class_name or self.keywords[0], "The class name",
                                                   code="bad_class_name"))


@dataclass
class CrawlClassesRequest(Config):
    """Several classes crawled at once, within one set of polite limits (a build's crawl step): one `CrawlRequest` each."""

    what = "crawl setting"

    classes: list = setting(default_factory=list, web=True, required=True, cli=False,
                            help='One crawl per class: [{"keywords": ["猫"], "class_name": "猫", "count": 30}, ...].')

    def check(self) -> None:
        if not isinstance(self.classes, list) or not self.classes:
            raise MLError("Bad setting classes: give at least one class to crawl.", code="bad_config")
        requests = []
        for i, value in enumerate(self.classes):
            if not isinstance(value, dict):
                raise MLError(f"Bad setting classes: class {i + 1} must be a crawl setting object.", code="bad_config")
            requests.append(CrawlRequest.from_dict(value, web=True).validate().with_class_name())
        names = [r.class_name for r in requests]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise MLError(f"Bad setting classes: {', '.join(twice)} given twice.", code="bad_config")
        self.classes = [r.to_dict() for r in requests]

    def requests(self) -> list[CrawlRequest]:
        """The classes as validated `CrawlRequest`s, class names filled in."""
        return [CrawlRequest.from_dict(c).validate().with_class_name() for c in self.classes]
