"""The crawler's egress guard: no loopback, private, link-local, multicast or reserved address, at any hop.

Public DNS cannot exist here, so names are fed to the guard through its injectable resolver
("evil.example → 10.0.0.5"); connections that are allowed go to the local fake Baidu for real.
"""

from __future__ import annotations

import ipaddress

import pytest

from ml.crawl import CrawlConfig, CrawlError, EgressRefused, crawl
from ml.crawl.download import Downloader, Rejected
from ml.crawl.egress import EgressPolicy, forbidden_reason, parse_networks
from tests import fakebaidu

fake_baidu = fakebaidu.fake_baidu

#: Addresses that stand for public hosts (never connected to in these tests).
PUBLIC = "93.184.216.34"


def resolver_of(table: dict[str, list[str] | str], calls: list | None = None):
    """A resolver answering from `table` (a name missing from it does not resolve)."""
    import socket

    def resolve(host: str, port: int) -> list[str]:
        if calls is not None:
            calls.append((host, port))
        if host not in table:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        found = table[host]
        return [found] if isinstance(found, str) else list(found)

    return resolve


@pytest.mark.parametrize(("address", "reason"), [
    ("127.0.0.1", "loopback"), ("10.0.0.5", "private"), ("192.168.1.1", "private"), ("172.16.0.1", "private"),
    ("169.254.169.254", "link-local"), ("224.0.0.251", "multicast"), ("240.0.0.1", "reserved"),
    ("0.0.0.0", "unspecified"), ("100.64.0.1", "not publicly routable"), ("::1", "loopback"),
    ("fe80::1", "link-local"), ("fc00::1", "private"), ("::ffff:127.0.0.1", "loopback"), ("ff02::1", "multicast"),
])
def test_non_public_addresses_are_refused(address, reason):
    assert forbidden_reason(ipaddress.ip_address(address)) == reason
    policy = EgressPolicy(resolver=resolver_of({"evil.example": address}))
    with pytest.raises(EgressRefused, match=reason) as info:
        policy.addresses("evil.example", 80)
    assert info.value.code == "egress_refused"


def test_public_addresses_pass_on_80_and_443_only():
    policy = EgressPolicy(resolver=resolver_of({"pics.example": PUBLIC}))
    assert policy.addresses("pics.example", 443) == [PUBLIC]
    assert policy.addresses("pics.example", 80) == [PUBLIC]
    with pytest.raises(EgressRefused, match="port 6379"):
        policy.addresses("pics.example", 6379)


def test_a_name_with_one_private_answer_among_public_ones_is_refused():
    policy = EgressPolicy(resolver=resolver_of({"mixed.example": [PUBLIC, "10.0.0.5"]}))
    with pytest.raises(EgressRefused, match="private"):
        policy.addresses("mixed.example", 443)


def test_allow_networks_lets_a_listed_network_through_on_any_port():
    policy = EgressPolicy(allow_networks=parse_networks(["10.1.0.0/16"]), resolver=resolver_of({"mirror.lan": "10.1.2.3"}))
    assert policy.addresses("mirror.lan", 8080) == ["10.1.2.3"]
    with pytest.raises(EgressRefused):
        EgressPolicy(allow_networks=parse_networks(["10.1.0.0/16"]), resolver=resolver_of({"x.lan": "10.2.0.1"})).addresses("x.lan", 80)
    with pytest.raises(CrawlError, match="not an IP address") as info:
        CrawlConfig(allow_networks=["10.1.0.0/33"])
    assert info.value.code == "bad_config"


def _downloader(fake, allow, resolver=None) -> Downloader:
    return Downloader(CrawlConfig(base_url=fake.base_url, timeout=(2, 2), image_retries=0, allow_networks=allow), resolver)


def test_a_redirect_to_loopback_is_refused_at_the_redirect_hop(fake_baidu):
    # The picture host (127.0.0.2) is allowed; its redirect points at 127.0.0.1, which is not.
    fake = fake_baidu(bad={0: "redirect_out"}, image_hosts=1)
    fake.options.redirect_location = fake.base_url + "/"  # a live server on loopback (think Redis on 6379)
    picture = fake.picture_url("猫", 0)
    assert picture.startswith("http://127.0.0.2:")
    with pytest.raises(Rejected) as info:
        _downloader(fake, ["127.0.0.2/32"]).fetch(picture)
    assert info.value.reason == "egress_refused" and "loopback" in info.value.message
    assert [r["host"] for r in fake.requests] == ["127.0.0.2"]  # the first hop answered; 127.0.0.1 was never asked


def test_a_redirect_to_the_cloud_metadata_address_is_refused(fake_baidu):
    fake = fake_baidu(bad={0: "redirect_out"}, image_hosts=1)
    with pytest.raises(Rejected) as info:
        _downloader(fake, ["127.0.0.0/8"]).fetch(fake.picture_url("猫", 0))
    assert info.value.reason == "egress_refused" and "169.254.169.254" in info.value.message


def test_a_name_that_resolves_to_a_private_address_is_refused():
    config = CrawlConfig(timeout=(2, 2), image_retries=0)
    downloader = Downloader(config, resolver_of({"evil.example": "10.0.0.5"}))
    with pytest.raises(Rejected) as info:
        downloader.fetch("http://evil.example/cat.jpg")
    assert info.value.reason == "egress_refused"
    assert "evil.example (10.0.0.5)" in info.value.message and "private" in info.value.message


def test_the_connection_goes_to_the_checked_address(fake_baidu):
    # "pics.example" exists only in the injected resolver: the download can only succeed if the
    # connection uses the address the guard checked, not a second lookup of its own.
    fake = fake_baidu(image_hosts=1)
    calls: list = []
    url = fake.picture_url("猫", 0).replace("127.0.0.2", "pics.example")
    fetched = _downloader(fake, ["127.0.0.2/32"], resolver_of({"pics.example": "127.0.0.2"}, calls)).fetch(url)
    assert fetched.width == 96 and fetched.size > 0
    assert calls == [("pics.example", int(url.split(":")[2].split("/")[0]))]  # resolved once, for the one connection


def test_a_rebinding_name_cannot_switch_address_after_the_check(fake_baidu):
    # First answer passes the check; any later lookup would say 10.0.0.5. Only one lookup happens.
    fake = fake_baidu(image_hosts=1)
    answers = iter([["127.0.0.2"], ["10.0.0.5"], ["10.0.0.5"]])
    url = fake.picture_url("猫", 0).replace("127.0.0.2", "rebind.example")
    downloader = _downloader(fake, ["127.0.0.2/32"], lambda host, port: next(answers))
    assert downloader.fetch(url).size > 0


def test_a_crawl_records_refused_redirects_and_keeps_going(tmp_path, fake_baidu):
    fake = fake_baidu(bad={1: "redirect_out"}, total=6)
    config = CrawlConfig(base_url=fake.base_url, timeout=(2, 2), page_delay=0, backoff=0.01, image_retries=0,
                         allow_networks=["127.0.0.0/8"])
    summary = crawl(["猫"], tmp_path, count=5, config=config)
    assert summary.downloaded == 5 and summary.rejected == {"egress_refused": 1}


def test_by_default_a_loopback_search_site_is_refused_before_any_request(tmp_path, fake_baidu):
    fake = fake_baidu()
    config = CrawlConfig(base_url=fake.base_url, timeout=(2, 2), page_delay=0, retries=0)
    with pytest.raises(EgressRefused, match="loopback") as info:
        crawl(["猫"], tmp_path, count=3, config=config)
    assert info.value.code == "egress_refused"
    assert fake.requests == []
