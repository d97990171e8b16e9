"""Fetch one picture URL safely: streamed with a byte cap, type and magic bytes checked, fully decoded."""

from __future__ import annotations

import hashlib
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import imagehash
import requests

from ..images import HASH_TARGET, ImageError, decode_image
from .client import browser_headers, request_with_retries
from .config import CrawlConfig
from .egress import EgressRefused, Resolver, guarded_session

# File signatures of the formats ml.images decodes, with the extension a saved file gets.
_MAGIC = (
    (b"\xff\xd8\xff", ".jpg"),
    (b"\x89PNG\r\n\x1a\n", ".png"),
    (b"GIF87a", ".gif"),
    (b"GIF89a", ".gif"),
    (b"BM", ".bmp"),
    (b"II*\x00", ".tif"),
    (b"MM\x00*", ".tif"),
)
#: Content types that may still hold a picture (servers that do not know what they serve).
_UNLABELLED_TYPES = frozenset({"", "application/octet-stream", "binary/octet-stream", "application/x-download"})


class Rejected(Exception):
    """One URL gave nothing usable; `reason` is a short code counted in the crawl summary."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason
        self.message = message


@dataclass
class Fetched:
    """A picture that downloaded and decoded: its bytes and fingerprints."""

    url: str
    data: bytes
    extension: str
    sha256: str
    phash: str
    width: int
    height: int
    size: int
    #: A hidden temporary file holding the bytes, once the crawler has written them to disk.
    staged: Path | None = None


def sniff_extension(head: bytes) -> str | None:
    """The file extension matching the first bytes of a picture, or None when they match no format."""
    for magic, ext in _MAGIC:
        if head.startswith(magic):
            return ext
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return ".webp"
    if head[4:8] == b"ftyp" and head[8:12] in (b"heic", b"heix", b"mif1", b"msf1", b"heim", b"heis"):
        return ".heic"
    return None


class Downloader:
    """Downloads pictures from any thread; each thread keeps its own HTTP session."""

    def __init__(self, config: CrawlConfig, resolver: Resolver | None = None):
        self.config = config
        self.policy = config.egress_policy(resolver)
        self._local = threading.local()
        self._sessions: list[requests.Session] = []
        self._lock = threading.Lock()
        self._host_slots: dict[str, threading.BoundedSemaphore] = {}

    def _session(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = guarded_session(self.policy)
            session.headers.update(browser_headers(self.config))
            session.headers["Accept"] = "image/avif,image/webp,image/apng,image/*,*/*;q=0.8"
            self._local.session = session
            with self._lock:
                self._sessions.append(session)
        return session

    def close(self) -> None:
        with self._lock:
            for session in self._sessions:
                session.close()
            self._sessions.clear()

    def _slot(self, url: str) -> threading.BoundedSemaphore:
        """The semaphore that keeps downloads from one host at `per_host` at once."""
        host = (urlsplit(url).hostname or "").lower()
        with self._lock:
            if host not in self._host_slots:
                self._host_slots[host] = threading.BoundedSemaphore(self.config.per_host)
            return self._host_slots[host]

    def fetch(self, url: str) -> Fetched:
        """Download and check one URL; raise Rejected with a reason code when it is not a usable picture."""
        # The crawler schedules first URLs host by host; this also caps fallbacks (Baidu's thumbnails).
        with self._slot(url):
            data = self._download(url)
        ext = sniff_extension(data[:16])
        if ext is None:
            raise Rejected("not_image", f"{url} does not start like any picture format.")
        try:
            decoded = decode_image(data, max_pixels=self.config.max_pixels, min_size=self.config.min_size,
                                   target=HASH_TARGET)
        except ImageError as exc:
            raise Rejected(exc.code, f"{url}: {exc.message}") from None
        return Fetched(
            url=url,
            data=data,
            extension=ext,
            sha256=hashlib.sha256(data).hexdigest(),
            phash=str(imagehash.phash(decoded.image)),
            width=decoded.width,
            height=decoded.height,
            size=len(data),
        )

    def _download(self, url: str) -> bytes:
        cap = self.config.max_bytes
        try:
            response = request_with_retries(
                self._session(), url, self.config, retries=self.config.image_retries, stream=True
            )
        except EgressRefused as exc:
            raise Rejected("egress_refused", f"{url}: {exc.message}") from None
        except requests.Timeout:
            raise Rejected("timeout", f"{url} did not answer in time.") from None
        except requests.TooManyRedirects:
            raise Rejected("redirect_loop", f"{url} redirects too many times.") from None
        except requests.RequestException as exc:
            raise Rejected("connection_error", f"{url} could not be fetched: {type(exc).__name__}.") from None
        with response:
            if response.status_code != 200:
                raise Rejected(f"http_{response.status_code}", f"{url} answered HTTP {response.status_code}.")
            ctype = response.headers.get("Content-Type", "").split(";", 1)[0].strip().lower()
            if not ctype.startswith("image/") and ctype not in _UNLABELLED_TYPES:
                raise Rejected("not_image_type", f"{url} is {ctype}, not a picture.")
            length = response.headers.get("Content-Length", "")
            if length.isdigit() and int(length) > cap:
                raise Rejected("too_large", f"{url} is {int(length):,} bytes, over the cap of {cap:,}.")
            chunks: list[bytes] = []
            size = 0
            # The read timeout bounds each wait for bytes; this bounds a server that trickles them.
            deadline = time.monotonic() + self.config.download_deadline
            try:
                for chunk in response.iter_content(64 * 1024):
                    if time.monotonic() > deadline:
                        raise Rejected("too_slow", f"{url} took over {self.config.download_deadline:g} s to send; gave up.")
                    if not chunks and sniff_extension(chunk[:16]) is None and len(chunk) >= 16:
                        raise Rejected("not_image", f"{url} does not start like any picture format.")
                    chunks.append(chunk)
                    size += len(chunk)
                    if size > cap:
                        raise Rejected("too_large", f"{url} is over the cap of {cap:,} bytes.")
            except requests.RequestException as exc:
                reason = "timeout" if isinstance(exc, requests.ConnectionError) and "timed out" in str(exc) else "connection_error"
                raise Rejected(reason, f"{url} broke off while downloading: {type(exc).__name__}.") from None
        if not chunks:
            raise Rejected("empty", f"{url} sent no bytes.")
        return b"".join(chunks)
