"""A faithful local stand-in for Baidu Images: real HTTP servers on loopback addresses only.

`start_fake_baidu(**options)` serves, like image.baidu.com does:

- `/` the home page, which sets the `BAIDUID` cookie (the crawler's warm-up);
- `/search/acjson?word=...&pn=...&rn=...` result pages in the real format: obfuscated `objURL` and
  `fromURL`, `\\'` escapes and raw control characters in titles, a trailing `{}`, pagination by
  `pn`/`rn` over a finite number of results, `antiFlag` when browser headers or cookies are
  missing, and the blocks (`antiFlag`, a redirect to `/static/captcha/...`, an HTML page);
- picture URLs on 127.0.0.2, 127.0.0.3, ... (one server per "host", so per-host caps mean
  something), each result index behaving as `bad[index]` says: see `KINDS`.
"""

from __future__ import annotations

import json
import threading
import time
import zlib
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest

from tests import imagegen
from tests.crawl_support import acjson_body, fixed_bytes, picture_bytes

#: What a result index can serve; anything not listed in `bad` is a valid JPEG/PNG/WebP.
KINDS = {
    "html": "an HTML page with status 200 and text/html",
    "html_as_jpeg": "an HTML page labelled image/jpeg",
    "truncated": "the first half of a JPEG",
    "tiny": "a valid 1×1 PNG",
    "bomb": "a 10000×10000 PNG of a few kilobytes",
    "same_bytes": "the very bytes of result 0 under another URL",
    "near_dup": "result 0 re-encoded smaller at lower quality",
    "403": "HTTP 403",
    "404": "HTTP 404",
    "500": "HTTP 500",
    "slow": "a valid picture after `slow_seconds` (past the client's read timeout)",
    "redirect": "a 302 to a valid picture",
    "dead_obj": "objURL answers 404, but Baidu's thumbnail works",
    "gimg": "objURL is a gimg2.baidu.com/image_search/src=... wrapper around a valid picture",
    "same_url": "the same objURL as result 0",
    "oversize": "image/jpeg bytes streamed without a length, past the default 20 MB cap",
    "trickle": "a JPEG sent a few bytes at a time, each within the read timeout, for `slow_seconds`",
    "reset": "the connection closed without an answer",
    "redirect_out": "a 302 to `redirect_location` (elsewhere: a loopback port, the cloud metadata address)",
    "banner": "a valid 240×60 JPEG banner: the crawl keeps it, the scan flags its odd shape",
}
#: Kinds that only some tests ask for (not part of DEFAULT_BAD).
EXTRA_KINDS = ("redirect_out", "banner")
#: One of each kind on the first page, so a 60-picture crawl meets all of them.
DEFAULT_BAD = {i + 1: kind for i, kind in enumerate(k for k in KINDS if k not in EXTRA_KINDS)}
BLOCK_MODES = ("antiflag", "captcha", "html")
_FORMATS = ("jpg", "png", "webp")


@dataclass
class FakeOptions:
    """How the fake behaves; every test can change any of these."""

    total: int = 120
    bad: dict[int, str] = field(default_factory=lambda: dict(DEFAULT_BAD))
    image_hosts: int = 4
    latency: float = 0.0
    slow_seconds: float = 1.5
    #: Serve this many result pages, then answer every search with `block_mode`.
    block_after: int | None = None
    block_mode: str = "antiflag"
    require_cookie: bool = True
    require_headers: bool = True
    #: "classic" acjson, or the newer `{"errno":0,"data":{"images":[...]}}` answer.
    variant: str = "classic"
    #: The first N searches answer 503 with this Retry-After.
    fail_searches: int = 0
    retry_after: str = "1"
    #: Keywords whose results are the same pictures (as Baidu gives for 猫 and 家猫).
    same_results: dict[str, str] = field(default_factory=dict)
    #: Bytes the "oversize" kind streams (stops early when the client hangs up).
    oversize_bytes: int = 21 * 1024 * 1024
    #: Where the "redirect_out" kind sends the client.
    redirect_location: str = "http://169.254.169.254/latest/meta-data/"


class FakeBaidu:
    """The running fake: `base_url`, the request log, and `stop()`."""

    def __init__(self, options: FakeOptions):
        self.options = options
        self.requests: list[dict] = []
        self.searches_served = 0
        #: Picture requests in progress and the most seen at once, per host address.
        self.active: dict[str, int] = {}
        self.peak: dict[str, int] = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        for kind in ("tiny", "bomb", "truncated", "html"):
            fixed_bytes(kind)  # build slow payloads (the bomb) before any client's timeout starts
        handler = type("Handler", (_Handler,), {"fake": self})
        self.servers = [ThreadingHTTPServer(("127.0.0.1", 0), handler)]
        for n in range(options.image_hosts):
            self.servers.append(ThreadingHTTPServer((f"127.0.0.{n + 2}", 0), handler))
        for server in self.servers:
            server.daemon_threads = True
            threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        host, port = self.servers[0].server_address[:2]
        self.base_url = f"http://{host}:{port}"

    def stop(self) -> None:
        """Stop every server (slow responses are cut short)."""
        self._stopping.set()
        for server in self.servers:
            server.shutdown()
            server.server_close()

    def __enter__(self) -> FakeBaidu:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- what the fake serves -------------------------------------------------------------------

    def host_url(self, index: int) -> str:
        """Root URL of the picture host that serves result `index`."""
        servers = self.servers[1:] or self.servers
        host, port = servers[index % len(servers)].server_address[:2]
        return f"http://{host}:{port}"

    def kind(self, index: int) -> str:
        return self.options.bad.get(index, "good")

    def picture_url(self, word: str, index: int) -> str:
        """The real (decoded) objURL of one result."""
        kind = self.kind(index)
        if kind == "same_url":
            return self.picture_url(word, 0)
        key = self._key(word)
        ext = _FORMATS[index % 3] if kind == "good" else "jpg"
        return f"{self.host_url(index)}/img/{key}/{index}-{kind}.{ext}"

    def thumb_url(self, word: str, index: int) -> str:
        return f"{self.base_url}/thumb/{self._key(word)}/{index}.jpg"

    def _key(self, word: str) -> str:
        return self.options.same_results.get(word, word).encode("utf-8").hex()

    def count(self, path_part: str) -> int:
        """How many logged requests had `path_part` in their path."""
        with self._lock:
            return sum(1 for r in self.requests if path_part in r["path"])

    def search_body(self, word: str, pn: int, rn: int) -> bytes:
        return acjson_body(self, word, pn, rn)

    def good_picture(self, word_key: str, index: int, ext: str) -> bytes:
        return picture_bytes(zlib.crc32(bytes.fromhex(word_key)) % 100_000 * 1000 + index, ext)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    fake: FakeBaidu

    def log_message(self, *args) -> None:  # keep test output clean
        pass

    def handle_one_request(self) -> None:
        try:
            super().handle_one_request()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        parts = urlsplit(self.path)
        fake = self.fake
        with fake._lock:
            fake.requests.append({
                "host": self.server.server_address[0], "path": parts.path, "query": parts.query,
                "headers": dict(self.headers), "time": time.monotonic(),
            })
        if parts.path == "/":
            return self._send(200, b"<html><body>Baidu Images</body></html>", "text/html; charset=utf-8", cookie="BAIDUID=FAKE0123456789:FG=1")
        if parts.path == "/search/acjson":
            return self._search(parse_qs(parts.query))
        if parts.path.startswith("/static/captcha/"):
            return self._send(200, b"<html><body>\xe5\xae\x89\xe5\x85\xa8\xe9\xaa\x8c\xe8\xaf\x81 captcha</body></html>", "text/html; charset=utf-8")
        if parts.path.startswith(("/img/", "/thumb/")):
            return self._counted(self._picture, parts.path)
        self._send(404, b"not found", "text/plain")

    def _counted(self, serve, path: str) -> None:
        fake, host = self.fake, self.server.server_address[0]
        with fake._lock:
            fake.active[host] = fake.active.get(host, 0) + 1
            fake.peak[host] = max(fake.peak.get(host, 0), fake.active[host])
        released = []

        def release() -> None:
            # Called before the body goes out: once the client has the whole answer it may start
            # its next download, which must not find this one still counted.
            if not released:
                released.append(True)
                with fake._lock:
                    fake.active[host] -= 1

        self._release = release
        try:
            serve(path)
        finally:
            release()
            self._release = None

    # -- search -----------------------------------------------------------------------------

    def _search(self, query: dict[str, list[str]]) -> None:
        fake, opts = self.fake, self.fake.options
        with fake._lock:
            fake_fail = opts.fail_searches > 0
            if fake_fail:
                opts.fail_searches -= 1
        if fake_fail:
            return self._send(503, b"busy", "text/plain", extra={"Retry-After": opts.retry_after})
        if not self._looks_like_browser() or not self._has_params(query):
            return self._anti_flag()
        with fake._lock:
            blocked = opts.block_after is not None and fake.searches_served >= opts.block_after
            if not blocked:
                fake.searches_served += 1
        if blocked:
            if opts.block_mode == "captcha":
                location = f"{fake.base_url}/static/captcha/tuxing.html?ak=c27bbc89afca0463650ac9bde68ebe06&backurl=x"
                return self._send(302, b"", "text/html", extra={"Location": location})
            if opts.block_mode == "html":
                return self._send(200, b"<!DOCTYPE html><html><body>\xe7\xbd\x91\xe7\xbb\x9c\xe4\xb8\x8d\xe7\xbb\x99\xe5\x8a\x9b</body></html>", "text/html")
            return self._anti_flag()
        word = query["word"][0]
        pn, rn = int(query["pn"][0]), int(query["rn"][0])
        self._send(200, fake.search_body(word, pn, min(rn, 60)), "text/plain;charset=UTF-8")

    def _looks_like_browser(self) -> bool:
        opts = self.fake.options
        if opts.require_headers:
            if "Mozilla/" not in self.headers.get("User-Agent", ""):
                return False
            if "zh-CN" not in self.headers.get("Accept-Language", ""):
                return False
            if not self.headers.get("Referer", "").startswith(self.fake.base_url):
                return False
        if opts.require_cookie:
            cookie = SimpleCookie(self.headers.get("Cookie", ""))
            if "BAIDUID" not in cookie:
                return False
        return True

    @staticmethod
    def _has_params(query: dict[str, list[str]]) -> bool:
        needed = {"tn": "resultjson_com", "ipn": "rj", "ie": "utf-8", "oe": "utf-8", "fp": "result"}
        if any(query.get(k, [""])[0] != v for k, v in needed.items()):
            return False
        return all(query.get(k, [""])[0] for k in ("word", "queryWord", "pn", "rn")) and query["pn"][0].isdigit()

    def _anti_flag(self) -> None:
        body = json.dumps({"antiFlag": 1, "message": "Forbid spider access", "bfe_log_id": "1234567890"})
        self._send(200, body.encode(), "text/plain;charset=UTF-8")

    # -- pictures ---------------------------------------------------------------------------

    def _picture(self, path: str) -> None:
        fake = self.fake
        if fake.options.latency:
            time.sleep(fake.options.latency)
        section, key, name = path.strip("/").split("/", 2)
        stem, _, ext = name.partition(".")
        index_text, _, label = stem.partition("-")
        index = int(index_text)
        kind = "good" if label == "target" else fake.kind(index)
        if section == "thumb" and kind in ("dead_obj", "redirect", "gimg", "same_url", "good"):
            data = fake.good_picture(key, index, "jpg")
            return self._send(200, data, "image/jpeg")
        if kind in ("good", "dead_obj", "gimg", "same_url"):
            if kind == "dead_obj":
                return self._send(404, b"<html>404</html>", "text/html")
            return self._send(200, fake.good_picture(key, index, ext), f"image/{'jpeg' if ext == 'jpg' else ext}")
        if kind == "redirect":
            return self._send(302, b"", "text/html", extra={"Location": f"/img/{key}/{index}-target.png"})
        if kind == "redirect_out":
            return self._send(302, b"", "text/html", extra={"Location": fake.options.redirect_location})
        if kind in ("403", "404", "500"):
            return self._send(int(kind), f"<html>{kind}</html>".encode(), "text/html")
        if kind == "html":
            return self._send(200, fixed_bytes("html"), "text/html; charset=utf-8")
        if kind == "html_as_jpeg":
            return self._send(200, fixed_bytes("html"), "image/jpeg")
        if kind in ("truncated", "tiny", "bomb"):
            return self._send(200, fixed_bytes(kind), "image/png" if kind != "truncated" else "image/jpeg")
        if kind in ("same_bytes", "near_dup"):
            first = fake.good_picture(key, 0, "jpg")
            return self._send(200, first if kind == "same_bytes" else imagegen.near_duplicate(first), "image/jpeg")
        if kind == "banner":
            seed = zlib.crc32(bytes.fromhex(key)) % 100_000 * 1000 + index
            return self._send(200, imagegen.encode(imagegen.shapes(seed, (240, 60))), "image/jpeg")
        if kind == "slow":
            if fake._stopping.wait(fake.options.slow_seconds):
                return None
            return self._send(200, fake.good_picture(key, index, "jpg"), "image/jpeg")
        if kind == "oversize":
            return self._stream_oversize()
        if kind == "reset":
            self.close_connection = True
            return None
        if kind == "trickle":
            return self._trickle(fake.good_picture(key, index, "jpg"))
        self._send(500, b"unknown kind", "text/plain")

    def _stream_oversize(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "image/jpeg")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        chunk = b"\xff\xd8\xff\xe0" + bytes(256 * 1024 - 4)
        for _ in range(self.fake.options.oversize_bytes // len(chunk) + 1):
            self.wfile.write(chunk)
            chunk = bytes(256 * 1024)

    def _trickle(self, data: bytes) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "image/jpeg")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        pieces = 20
        step = len(data) // pieces + 1
        for start in range(0, len(data), step):
            self.wfile.write(data[start : start + step])
            self.wfile.flush()
            if self.fake._stopping.wait(self.fake.options.slow_seconds / pieces):
                return

    def _send(self, status: int, body: bytes, ctype: str, *, cookie: str | None = None, extra: dict | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        if cookie:
            self.send_header("Set-Cookie", f"{cookie}; path=/")
        for name, value in (extra or {}).items():
            self.send_header(name, value)
        self.end_headers()
        release = getattr(self, "_release", None)
        if release is not None:
            release()
        self.wfile.write(body)


def start_fake_baidu(**options) -> FakeBaidu:
    """Start a fake Baidu Images with `FakeOptions(**options)`; call `.stop()` when done."""
    return FakeBaidu(FakeOptions(**options))


@pytest.fixture
def fake_baidu():
    """A factory fixture: `fake_baidu(**options)` starts a fake server, stopped after the test."""
    started: list[FakeBaidu] = []

    def start(**options) -> FakeBaidu:
        fake = start_fake_baidu(**options)
        started.append(fake)
        return fake

    yield start
    for fake in started:
        fake.stop()

