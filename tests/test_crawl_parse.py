"""Crawler pieces that need no server: objURL decoding, lenient JSON, blocks, settings, manifest."""

from __future__ import annotations

import json
import time
from email.utils import formatdate

import pytest

from ml.crawl import (
    CrawlBlocked,
    CrawlConfig,
    CrawlError,
    Manifest,
    decode_objurl,
    encode_objurl,
    parse_page,
    unwrap_url,
)
from ml.crawl.client import backoff_delay, retry_after_seconds
from ml.crawl.download import sniff_extension
from ml.crawl.folder import check_class_name, check_keywords, folder_lock
from ml.crawl.manifest import remove_partial_files, write_atomic
from tests import imagegen

ISSUE_EXAMPLE = (
    "ippr_z2C$qAzdH3FAzdH3Ft42_z&e3B77p7o_z&e3Bv54AzdH3F77p7oAzdH3Fkt2AzdH3F77AzdH3Fa9AzdH3FllAzdH3Fb980_z&e3B3r2"
)


def test_decode_objurl_matches_the_issue_example():
    assert decode_objurl(ISSUE_EXAMPLE) == "http://img.uutuw.com/uutuw/big/uu/04/99/8417.jpg"


@pytest.mark.parametrize(
    "url",
    [
        "http://img.uutuw.com/uutuw/big/uu/04/99/8417.jpg",
        "https://pic.example.com:8080/a/b/猫-2024_01.png?x=1&y=2",
        "http://127.0.0.2:41234/img/e78cab/17-good.webp",
    ],
)
def test_encode_is_the_inverse_of_decode(url):
    encoded = encode_objurl(url)
    assert "://" not in encoded and "_z2C$q" in encoded
    assert decode_objurl(encoded) == url


def test_plain_urls_pass_through_decode():
    assert decode_objurl("https://a.example.com/x.jpg") == "https://a.example.com/x.jpg"
    assert decode_objurl("") == ""


def test_unwrap_gimg2_proxy_urls():
    wrapped = (
        "https://gimg2.baidu.com/image_search/src=http%3A%2F%2Fimg.jj20.com%2Fup%2F1.jpg"
        "&refer=http%3A%2F%2Fimg.jj20.com&app=2002&size=f9999,10000&q=a80&n=0&g=0n&fmt=auto?sec=1652&t=5c"
    )
    assert unwrap_url(wrapped) == "http://img.jj20.com/up/1.jpg"
    query_form = "https://gimg2.baidu.com/image_search/?src=https%3A%2F%2Fa.b%2Fc.png&refer=x"
    assert unwrap_url(query_form) == "https://a.b/c.png"
    assert unwrap_url("https://img.example.com/image_search/nothing") == "https://img.example.com/image_search/nothing"
    assert unwrap_url("http://a.b/c.jpg") == "http://a.b/c.jpg"


def _page(items, **top) -> str:
    doc = {"queryEnc": "%E7%8C%AB", "listNum": 1590, "displayNum": 1590, "bdIsClustered": "1", "data": items + [{}]}
    doc.update(top)
    return json.dumps(doc, ensure_ascii=False)


def test_parse_page_handles_bad_escapes_control_characters_and_the_trailing_empty_object():
    item = {
        "objURL": encode_objurl("http://origin.example.com/cat.jpg"),
        "middleURL": "https://img1.baidu.com/it/u=1,2&fm=253",
        "thumbURL": "https://img1.baidu.com/it/u=1,2&fm=253",
        "hoverURL": "https://img2.baidu.com/it/u=1,2&fm=253",
        "fromURL": encode_objurl("http://origin.example.com/page.html"),
        "fromPageTitle": "TITLE",
        "replaceUrl": [{"ObjURL": "http://mirror.example.com/cat.jpg", "FromURL": "http://mirror.example.com/"}],
    }
    text = _page([item]).replace("TITLE", "Tom\\'s <strong>猫</strong>\x01\t")
    with pytest.raises(json.JSONDecodeError):
        json.loads(text)  # what naive crawlers do
    page = parse_page(text, query="猫")
    assert page.total == 1590
    assert len(page.candidates) == 1
    cand = page.candidates[0]
    assert cand.urls == [
        "http://origin.example.com/cat.jpg",
        "https://img1.baidu.com/it/u=1,2&fm=253",
        "https://img2.baidu.com/it/u=1,2&fm=253",
        "http://mirror.example.com/cat.jpg",
    ]
    assert cand.source == "http://origin.example.com/page.html"
    assert cand.title.startswith("Tom's") and cand.query == "猫"


def test_escaped_backslash_before_a_quote_is_left_alone():
    text = _page([{"thumbURL": "http://a.b/c.jpg", "fromPageTitle": "SLASH"}]).replace("SLASH", "a\\\\'b")
    assert parse_page(text).candidates[0].title == "a\\'b"


def test_results_without_any_url_are_skipped():
    page = parse_page(_page([{"objURL": "", "thumbURL": "", "fromURL": ""}, {"thumbURL": "ftp://x/y"}]))
    assert page.candidates == []


def test_parse_new_variant_uses_only_thumburl():
    text = json.dumps({"errno": 0, "data": {"images": [{"thumburl": "https://img0.baidu.com/it/u=9"}, {"other": 1}]}})
    page = parse_page(text, query="cat")
    assert [c.urls for c in page.candidates] == [["https://img0.baidu.com/it/u=9"]]


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ('{"antiFlag":1,"message":"Forbid spider access","bfe_log_id":"123"}', "blocked_antiflag"),
        ("<!DOCTYPE html><html><body>网络不给力</body></html>", "blocked_not_json"),
        ('{"queryEnc":"x","listNum":0}', "blocked_no_data"),
        ('{"errno":1001,"errmsg":"denied","data":{"images":[]}}', "blocked_errno"),
        ("[1, 2]", "blocked_not_json"),
    ],
)
def test_blocks_and_garbage_raise_crawl_blocked(body, code):
    with pytest.raises(CrawlBlocked) as info:
        parse_page(body)
    assert info.value.code == code
    assert isinstance(info.value, CrawlError)


def test_retry_after_accepts_seconds_and_http_dates():
    assert retry_after_seconds("7") == 7.0
    assert retry_after_seconds(None) is None
    assert retry_after_seconds("soon") is None
    in_ten = retry_after_seconds(formatdate(time.time() + 10, usegmt=True))
    assert 8 <= in_ten <= 11


def test_backoff_grows_has_jitter_and_is_capped():
    config = CrawlConfig(backoff=1.0, backoff_max=5.0)
    first = [backoff_delay(config, 0) for _ in range(50)]
    assert all(1.0 <= d <= 1.5 for d in first) and len(set(first)) > 1
    assert all(2.0 <= backoff_delay(config, 1) <= 3.0 for _ in range(20))
    assert backoff_delay(config, 10) == 5.0
    assert backoff_delay(config, 0, retry_after=4.0) == 4.0
    assert backoff_delay(config, 0, retry_after=600.0) == 5.0


def test_sniff_extension_knows_the_formats_we_save():
    img = imagegen.shapes(1)
    assert sniff_extension(imagegen.encode(img, "JPEG")[:16]) == ".jpg"
    assert sniff_extension(imagegen.encode(img, "PNG")[:16]) == ".png"
    assert sniff_extension(imagegen.encode(img, "WEBP")[:16]) == ".webp"
    assert sniff_extension(imagegen.encode(img, "GIF")[:16]) == ".gif"
    assert sniff_extension(imagegen.html_page()[:16]) is None


def test_config_round_trips_through_json_and_rejects_nonsense():
    config = CrawlConfig(base_url="http://127.0.0.1:9/", timeout=(1, 2), workers=3)
    again = CrawlConfig(**json.loads(json.dumps(config.as_dict())))
    assert again == config and again.timeout == (1.0, 2.0) and again.base_url == "http://127.0.0.1:9"
    assert CrawlConfig(timeout=3).timeout == (3.0, 3.0)
    with pytest.raises(CrawlError, match="workers must be at least 1") as info:
        CrawlConfig(workers=0)
    assert info.value.code == "bad_config"
    with pytest.raises(CrawlError, match="base_url"):
        CrawlConfig(base_url="image.baidu.com")
    with pytest.raises(CrawlError, match="Unknown crawl settings: speed"):
        CrawlConfig.from_dict({"speed": 11})


def test_keywords_and_class_names_are_checked():
    assert check_keywords(["  猫 ", "cat", "猫", "家  猫"]) == ["猫", "cat", "家 猫"]
    assert check_keywords("dog") == ["dog"]
    for bad in ([], ["", "  "], None):
        with pytest.raises(CrawlError, match="at least one keyword") as info:
            check_keywords(bad)
        assert info.value.code == "bad_keyword"
    with pytest.raises(CrawlError, match="longer than"):
        check_keywords(["x" * 101])
    assert check_class_name(" 金毛 Retriever ") == "金毛 Retriever"
    for bad in ("", "..", ".hidden", "a/b", "c:\\d", "tab\tname"):
        with pytest.raises(CrawlError) as info:
            check_class_name(bad)
        assert info.value.code == "bad_class_name"


def test_manifest_survives_a_torn_last_line(tmp_path):
    manifest = Manifest(tmp_path)
    manifest.append({"url": "http://a/1.jpg", "status": "saved", "file": "1.jpg", "sha256": "aa", "phash": "00", "size": 1})
    with manifest.path.open("a", encoding="utf-8") as fh:
        fh.write('{"url": "http://a/2.jpg", "sta')  # the process died mid-write
    again = Manifest(tmp_path)
    assert again.damaged_lines == 1 and again.known_urls == {"http://a/1.jpg"}
    again.append({"url": "http://a/3.jpg", "status": "rejected", "reason": "http_404", "tried": ["http://a/3b.jpg"]})
    third = Manifest(tmp_path)
    assert third.known_urls == {"http://a/1.jpg", "http://a/3.jpg", "http://a/3b.jpg"}
    assert third.damaged_lines == 1 and len(third.saved()) == 1


def test_failed_records_are_retried_by_a_later_run(tmp_path):
    Manifest(tmp_path).append({"url": "http://a/slow.jpg", "status": "failed", "reason": "timeout"})
    assert Manifest(tmp_path).known_urls == set()


def test_atomic_write_and_partial_cleanup(tmp_path):
    (tmp_path / ".part-abc.tmp").write_bytes(b"half")
    assert remove_partial_files(tmp_path) == 1
    target = write_atomic(tmp_path, "x.jpg", b"data")
    assert target.read_bytes() == b"data"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.jpg"]


def test_folder_lock_refuses_a_second_crawl(tmp_path):
    with folder_lock(tmp_path):
        with pytest.raises(CrawlError, match="Another crawl") as info:
            with folder_lock(tmp_path):
                pass
        assert info.value.code == "busy"
    with folder_lock(tmp_path):
        pass
