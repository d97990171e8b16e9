"""Keyword image crawler for Baidu Images: search, download, check, deduplicate, resume.

    crawl(["猫", "cat"], "datasets/animals", class_name="猫", count=60)

fills `datasets/animals/猫/` with up to 60 usable, distinct pictures and records every result in
`猫/.manifest.jsonl`, so a second run fetches nothing it already handled. Framework-free: callers
pass `on_progress` / `should_stop` callbacks.
"""

from .config import CrawlConfig
from .crawler import PoliteLimits, crawl
from .egress import EgressPolicy, EgressRefused
from .errors import CrawlBlocked, CrawlError
from .manifest import MANIFEST_NAME, Manifest
from .parse import Candidate, decode_objurl, encode_objurl, parse_page, unwrap_url
from .summary import CrawlSummary
from .together import ClassOutcome, crawl_together

__all__ = [
    "MANIFEST_NAME",
    "Candidate",
    "ClassOutcome",
    "CrawlBlocked",
    "CrawlConfig",
    "CrawlError",
    "CrawlSummary",
    "EgressPolicy",
    "EgressRefused",
    "Manifest",
    "PoliteLimits",
    "crawl",
    "crawl_together",
    "decode_objurl",
    "encode_objurl",
    "parse_page",
    "unwrap_url",
]
