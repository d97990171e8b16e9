"""Read Baidu Images `acjson` answers: lenient JSON, obfuscated objURL, block detection."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

from .errors import CrawlBlocked

# objURL obfuscation: three multi-character tokens first, then a one-to-one character map.
_TOKENS = (("_z2C$q", ":"), ("_z&e3B", "."), ("AzdH3F", "/"))
_CHAR_MAP = str.maketrans("wkv1ju2it3hs4g5rq6fp7eo8dn9cm0bla", "abcdefghijklmnopqrstuvw1234567890")
_INVERSE_MAP = str.maketrans("abcdefghijklmnopqrstuvw1234567890", "wkv1ju2it3hs4g5rq6fp7eo8dn9cm0bla")
# A backslash-quote escape (invalid JSON) preceded by an even number of backslashes.
_BAD_QUOTE_ESCAPE = re.compile(r"(?<!\\)((?:\\\\)*)\\'")
#: Result fields tried in this order for each result (the original first, Baidu's copies after).
URL_FIELDS = ("objURL", "middleURL", "thumbURL", "hoverURL")
_CAPTCHA_MARKERS = ("wappass.baidu.com", "/static/captcha")


@dataclass
class Candidate:
    """One search result: the picture URLs to try in order, and where it was found."""

    urls: list[str]
    source: str = ""
    title: str = ""
    query: str = ""
    extra: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def url(self) -> str:
        return self.urls[0]


@dataclass
class ResultPage:
    """One parsed page of results; `total` is the site's own count (0 when unknown)."""

    candidates: list[Candidate]
    total: int = 0


def decode_objurl(encoded: str) -> str:
    """Undo Baidu's objURL obfuscation; plain http(s) URLs come back unchanged."""
    if not encoded or encoded.startswith(("http://", "https://")):
        return encoded
    for token, plain in _TOKENS:
        encoded = encoded.replace(token, plain)
    return encoded.translate(_CHAR_MAP)


def encode_objurl(url: str) -> str:
    """Obfuscate a URL the way Baidu does (the inverse of `decode_objurl`; used by the fake)."""
    out = url.translate(_INVERSE_MAP)
    for token, plain in _TOKENS:
        out = out.replace(plain, token)
    return out


def unwrap_url(url: str) -> str:
    """Return the original picture URL hidden in a `gimg2.baidu.com/image_search/src=...` proxy URL."""
    parts = urlsplit(url)
    if "/image_search/" not in parts.path:
        return url
    # The proxy puts `src=...&refer=...` in the path or the query, depending on its age.
    tail = parts.path.split("/image_search/", 1)[1]
    for blob in (parts.query, tail):
        src = parse_qs(blob).get("src")
        if src and src[0].startswith(("http://", "https://")):
            return src[0]
    return url


def loads_lenient(text: str) -> Any:
    """Parse Baidu's almost-JSON: `\\'` escapes and raw control characters are allowed."""
    return json.loads(_BAD_QUOTE_ESCAPE.sub(r"\1'", text), strict=False)


def is_captcha_url(url: str) -> bool:
    """True for Baidu's captcha/verification pages."""
    return any(marker in url for marker in _CAPTCHA_MARKERS)


def _urls_of(item: dict[str, Any]) -> list[str]:
    urls: list[str] = []
    for name in URL_FIELDS:
        value = item.get(name)
        if not isinstance(value, str) or not value.strip():
            continue
        url = unwrap_url(decode_objurl(value.strip()) if name == "objURL" else value.strip())
        if url.startswith(("http://", "https://")) and url not in urls:
            urls.append(url)
    for alt in item.get("replaceUrl") or []:
        # Mirrors of the same original; used after Baidu's own copies.
        if isinstance(alt, dict) and isinstance(alt.get("ObjURL"), str):
            url = unwrap_url(decode_objurl(alt["ObjURL"].strip()))
            if url.startswith(("http://", "https://")) and url not in urls:
                urls.append(url)
    return urls


def _as_int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def parse_page(text: str, query: str = "") -> ResultPage:
    """Candidates of one result page, or CrawlBlocked when the answer is a block or not JSON."""
    try:
        doc = loads_lenient(text)
    except (json.JSONDecodeError, ValueError):
        head = " ".join(text[:80].split())
        raise CrawlBlocked(
            f"Baidu answered with something that is not search results (starts {head!r}); "
            "it is probably blocking this client.",
            code="blocked_not_json",
        ) from None
    if not isinstance(doc, dict):
        raise CrawlBlocked("Baidu answered with JSON that is not a result page.", code="blocked_not_json")
    if doc.get("antiFlag"):
        message = doc.get("message") or "Forbid spider access"
        raise CrawlBlocked(f"Baidu refused the search: {message} (antiFlag).", code="blocked_antiflag")
    data = doc.get("data")
    if isinstance(data, dict) and "images" in data:
        return _parse_new_variant(doc, query)
    if not isinstance(data, list):
        raise CrawlBlocked("Baidu's answer has no result list ('data' is missing).", code="blocked_no_data")
    candidates = []
    for item in data:
        if not isinstance(item, dict) or not item:
            continue  # the list ends with an empty object
        urls = _urls_of(item)
        if urls:
            source = item.get("fromURL") or ""
            candidates.append(
                Candidate(
                    urls=urls,
                    source=decode_objurl(source) if isinstance(source, str) else "",
                    title=str(item.get("fromPageTitleEnc") or item.get("fromPageTitle") or ""),
                    query=query,
                    extra={k: item.get(k) for k in ("width", "height", "type") if k in item},
                )
            )
    return ResultPage(candidates, total=_as_int(doc.get("displayNum") or doc.get("listNum")))


def _parse_new_variant(doc: dict[str, Any], query: str) -> ResultPage:
    """The newer `{"errno":0,"data":{"images":[{"thumburl":...}]}}` answer: only `thumburl` is trusted."""
    if _as_int(doc.get("errno")) != 0:
        raise CrawlBlocked(f"Baidu answered errno {doc.get('errno')}: {doc.get('errmsg') or 'no message'}.", code="blocked_errno")
    candidates = []
    for item in doc["data"].get("images") or []:
        url = item.get("thumburl") if isinstance(item, dict) else None
        if isinstance(url, str) and url.startswith(("http://", "https://")):
            candidates.append(Candidate(urls=[url], query=query))
    return ResultPage(candidates)
