"""Typed crawler errors: bad input, a search that failed, and a site that blocked us."""

from __future__ import annotations

from typing import Any

from ..errors import MLError


class CrawlError(MLError):
    """The crawl cannot go on as asked; `summary` (if set) says what was saved before it stopped."""

    code = "crawl_error"

    def __init__(self, message: str, *, code: str | None = None, summary: Any = None):
        super().__init__(message, code=code)
        self.summary = summary


class CrawlBlocked(CrawlError):
    """The search site refused us (anti-spider flag, captcha page, or a body that is not JSON)."""

    code = "blocked"
