"""What one crawl did, as a JSON-friendly record."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class CrawlSummary:
    """Counts of one crawl run for one class folder.

    `found` counts new results seen this run, `downloaded` the pictures saved this run, `existing`
    the usable pictures the folder held before; `rejected` maps a reason code to how many results
    gave no usable picture for that reason (of their first URL).
    """

    class_name: str
    folder: str
    keywords: list[str]
    count: int
    existing: int = 0
    found: int = 0
    downloaded: int = 0
    duplicates: int = 0
    skipped: int = 0
    fallbacks: int = 0
    pages: int = 0
    rejected: dict[str, int] = field(default_factory=dict)
    blocked: bool = False
    stopped: str = ""
    message: str = ""
    elapsed: float = 0.0

    @property
    def total(self) -> int:
        """Usable pictures in the class folder now."""
        return self.existing + self.downloaded

    @property
    def rejected_total(self) -> int:
        return sum(self.rejected.values())

    def as_dict(self) -> dict[str, Any]:
        """Plain dict for JSON, job metadata and tables."""
        return asdict(self) | {"total": self.total, "rejected_total": self.rejected_total}
