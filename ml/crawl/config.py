"""Crawler settings: one JSON-friendly dataclass, polite by default."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from ..dataset.scan import NEAR_DUPLICATE_BITS
from ..images import DEFAULT_MAX_PIXELS, DEFAULT_MIN_SIZE
from ..settings import from_known_fields
from .egress import EgressPolicy, Resolver, parse_networks, system_resolver
from .errors import CrawlError

#: A current desktop Chrome; Baidu answers `antiFlag` to clients that do not look like a browser.
BROWSER_USER_AGENT = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36"
)


@dataclass
class CrawlConfig:
    """How to crawl: where, how fast, how patiently, and what a usable picture is.

    Every field is a plain value so `CrawlConfig(**json.loads(text))` works (lists become tuples).
    """

    #: Search site root; tests point it at the local fake server.
    base_url: str = "https://image.baidu.com"
    #: Download threads in total.
    workers: int = 8
    #: Downloads in flight to any one host at a time.
    per_host: int = 4
    #: (connect, read) timeouts in seconds for every request.
    timeout: tuple[float, float] = (5, 15)
    #: Seconds between two result pages (pictures keep downloading meanwhile).
    page_delay: float = 1.0
    #: Largest picture file accepted, in bytes.
    max_bytes: int = 20 * 1024 * 1024
    #: Longest time one picture may take to arrive, however steadily its bytes trickle in.
    download_deadline: float = 120.0
    #: Extra attempts after a connection error, a timeout, 429 or 5xx on a result page.
    retries: int = 3
    #: Extra attempts for one picture URL (a dead picture is usually dead for good).
    image_retries: int = 1
    #: First backoff in seconds; doubles per attempt, with up to 50 % random jitter.
    backoff: float = 0.5
    #: Longest single wait between attempts (also caps `Retry-After`).
    backoff_max: float = 30.0
    #: Results per page (`rn`); Baidu serves 30.
    page_size: int = 30
    #: Baidu stops serving results around this offset (`pn`).
    max_offset: int = 1000
    #: Fetch the site's home page first so the search carries its session cookies.
    warm_up: bool = True
    user_agent: str = BROWSER_USER_AGENT
    #: Pictures bigger than this many pixels are refused (decompression bombs).
    max_pixels: int = DEFAULT_MAX_PIXELS
    #: Pictures with a side shorter than this are refused (icons, tracking pixels).
    min_size: int = DEFAULT_MIN_SIZE
    #: Perceptual hashes within this many bits count as the same picture.
    near_duplicate_bits: int = NEAR_DUPLICATE_BITS
    #: Ports search and picture URLs may use; anything else is refused by the egress guard (ml.crawl.egress).
    allowed_ports: tuple[int, ...] = (80, 443)
    #: Networks the egress guard lets through although they are not public, on any port ("10.1.0.0/16"
    #: for an intranet mirror; the tests' local fake Baidu needs "127.0.0.0/8"). Empty: public addresses only.
    allow_networks: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if isinstance(self.timeout, (int, float)):
            self.timeout = (float(self.timeout), float(self.timeout))
        self.timeout = tuple(float(t) for t in self.timeout)  # type: ignore[assignment]
        self.base_url = str(self.base_url).rstrip("/")
        if isinstance(self.allow_networks, str):
            self.allow_networks = (self.allow_networks,)
        self.allow_networks = tuple(str(n) for n in self.allow_networks)
        parse_networks(self.allow_networks)  # refuses a malformed entry now, not at the first download
        problems = []
        try:
            self.allowed_ports = tuple(int(p) for p in self.allowed_ports)
        except (TypeError, ValueError):
            problems.append(f"allowed_ports must be port numbers (got {self.allowed_ports!r})")
        else:
            if not self.allowed_ports or not all(0 < p < 65536 for p in self.allowed_ports):
                problems.append("allowed_ports must list ports between 1 and 65535")
        if len(self.timeout) != 2 or min(self.timeout) <= 0:
            problems.append("timeout must be two positive numbers (connect, read)")
        for name in ("workers", "per_host", "page_size", "max_bytes", "max_pixels"):
            if int(getattr(self, name)) < 1:
                problems.append(f"{name} must be at least 1")
        if self.download_deadline <= 0:
            problems.append("download_deadline must be positive")
        for name in ("retries", "image_retries", "page_delay", "backoff", "backoff_max", "min_size"):
            if getattr(self, name) < 0:
                problems.append(f"{name} must not be negative")
        if not self.base_url.startswith(("http://", "https://")):
            problems.append(f"base_url must start with http:// or https:// (got {self.base_url!r})")
        if problems:
            raise CrawlError("Bad crawl settings: " + "; ".join(problems) + ".", code="bad_config")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CrawlConfig:
        """Build from a dict, refusing unknown keys with a clear message."""
        return from_known_fields(cls, data, what="crawl settings", error=CrawlError)

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly copy (tuples become lists)."""
        out = asdict(self)
        for key in ("timeout", "allowed_ports", "allow_networks"):
            out[key] = list(out[key])
        return out

    def egress_policy(self, resolver: Resolver | None = None) -> EgressPolicy:
        """The egress guard these settings ask for (`resolver`: how host names are looked up)."""
        return EgressPolicy(allowed_ports=frozenset(self.allowed_ports), allow_networks=parse_networks(self.allow_networks),
                            resolver=resolver or system_resolver)
