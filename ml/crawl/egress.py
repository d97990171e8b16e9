"""The crawler's egress guard: search results must not make a worker fetch from its own network.

Picture URLs come from strangers (search results, their redirects). Without a guard a result
pointing at `http://127.0.0.1:6379/`, `http://169.254.169.254/latest/meta-data/` or a host on
the private network would be fetched from inside the worker. So every connection the crawler
opens goes through `GuardedAdapter`, whose connections:

1. resolve the host themselves (`resolver`, injectable so tests can feed it names),
2. refuse when any address is loopback, private, link-local, multicast, reserved, unspecified or
   otherwise not globally routable (IPv4-mapped IPv6 included), and ports other than
   `allowed_ports` (80 and 443 by default),
3. connect to exactly the addresses they checked (the pin: no second DNS lookup that a
   rebinding name could answer differently).

Redirects are followed by `requests`, and each hop opens its connection through the same
adapter, so each hop is checked. `allow_networks` lists networks that are let through anyway, on
any port (an intranet mirror; the tests' local fake Baidu on 127.0.0.0/8).
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3 import connection as u3connection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NameResolutionError, NewConnectionError

from .errors import CrawlError

#: host, port → the IP addresses (as text) a connection may use.
Resolver = Callable[[str, int], list[str]]
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class EgressRefused(CrawlError):
    """A URL points at an address or port the crawler must not connect to."""

    code = "egress_refused"


def system_resolver(host: str, port: int) -> list[str]:
    """Every address the system resolver gives for `host` (raises socket.gaierror like getaddrinfo)."""
    seen: list[str] = []
    for *_rest, sockaddr in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM):
        if sockaddr[0] not in seen:
            seen.append(sockaddr[0])
    return seen


def parse_networks(values: Iterable[str]) -> tuple[IPNetwork, ...]:
    """`["127.0.0.0/8", "10.1.2.3"]` as networks; EgressRefused (code bad_config) names a bad entry."""
    out = []
    for value in values:
        try:
            out.append(ipaddress.ip_network(str(value).strip(), strict=False))
        except ValueError:
            raise CrawlError(f"allow_networks entry {value!r} is not an IP address or network like 10.0.0.0/8.",
                             code="bad_config") from None
    return tuple(out)


def forbidden_reason(ip: IPAddress) -> str | None:
    """Why a connection to `ip` is refused (None: a public address)."""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    for reason, flag in (("loopback", ip.is_loopback), ("link-local", ip.is_link_local),
                         ("multicast", ip.is_multicast), ("unspecified", ip.is_unspecified),
                         ("reserved", ip.is_reserved), ("private", ip.is_private)):
        if flag:
            return reason
    if not ip.is_global:
        return "not publicly routable"
    return None


@dataclass(frozen=True)
class EgressPolicy:
    """Which addresses and ports the crawler may connect to, and how host names are resolved."""

    allowed_ports: frozenset[int] = frozenset({80, 443})
    allow_networks: tuple[IPNetwork, ...] = ()
    resolver: Resolver = field(default=system_resolver, compare=False)

    def allowed(self, ip: IPAddress) -> bool:
        """Whether `ip` is inside one of `allow_networks`."""
        plain = ip.ipv4_mapped if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped else ip
        return any(plain in net for net in self.allow_networks if net.version == plain.version)

    def addresses(self, host: str, port: int) -> list[str]:
        """The checked addresses to connect to for `host:port`; EgressRefused when any is not allowed."""
        try:
            names = [str(ipaddress.ip_address(host))]  # a literal address needs no lookup
        except ValueError:
            names = self.resolver(host, port)
        if not names:
            raise EgressRefused(f"{host} resolves to no address.")
        checked = []
        for name in names:
            ip = ipaddress.ip_address(name.split("%", 1)[0])
            if self.allowed(ip):
                checked.append(name)
                continue
            reason = forbidden_reason(ip)
            if reason:
                shown = host if host == name else f"{host} ({name})"
                raise EgressRefused(f"Refused to connect to {shown}: a {reason} address. Pictures must come "
                                    "from public web servers (add the network to allow_networks to permit it).")
            if port not in self.allowed_ports:
                raise EgressRefused(f"Refused to connect to {host} on port {port}: only ports "
                                    f"{', '.join(map(str, sorted(self.allowed_ports)))} are allowed.")
            checked.append(name)
        return checked

    def check_url(self, url: str) -> None:
        """Refuse `url` before any connection when its scheme is not http(s) (addresses are checked on connect)."""
        scheme = urlsplit(url).scheme.lower()
        if scheme not in ("http", "https"):
            raise EgressRefused(f"Refused {url}: only http:// and https:// addresses are fetched.")


def _guarded_connection(base: type, policy: EgressPolicy) -> type:
    class GuardedConnection(base):
        """A urllib3 connection that connects only to addresses the policy checked (and to nothing else)."""

        def _new_conn(self) -> socket.socket:
            try:
                addresses = policy.addresses(self._dns_host, self.port)
            except socket.gaierror as exc:
                raise NameResolutionError(self.host, self, exc) from exc
            last: OSError | None = None
            for address in addresses:
                try:
                    return u3connection.connection.create_connection(
                        (address, self.port), self.timeout, source_address=self.source_address,
                        socket_options=self.socket_options)
                except TimeoutError as exc:
                    raise ConnectTimeoutError(
                        self, f"Connection to {self.host} timed out. (connect timeout={self.timeout})") from exc
                except OSError as exc:
                    last = exc
            raise NewConnectionError(self, f"Failed to establish a new connection: {last}")

    return GuardedConnection


class GuardedAdapter(HTTPAdapter):
    """A requests adapter whose every connection (each redirect hop included) goes through the policy."""

    def __init__(self, policy: EgressPolicy, **kwargs):
        self.policy = policy
        super().__init__(**kwargs)

    def init_poolmanager(self, *args, **kwargs) -> None:
        super().init_poolmanager(*args, **kwargs)
        http_conn = _guarded_connection(u3connection.HTTPConnection, self.policy)
        https_conn = _guarded_connection(u3connection.HTTPSConnection, self.policy)
        self.poolmanager.pool_classes_by_scheme = {
            "http": type("GuardedHTTPPool", (HTTPConnectionPool,), {"ConnectionCls": http_conn}),
            "https": type("GuardedHTTPSPool", (HTTPSConnectionPool,), {"ConnectionCls": https_conn}),
        }

    def send(self, request, *args, **kwargs):
        self.policy.check_url(request.url)
        return super().send(request, *args, **kwargs)


def guarded_session(policy: EgressPolicy) -> requests.Session:
    """A requests session that can only reach what `policy` allows (env proxies are ignored: they would bypass it)."""
    session = requests.Session()
    session.trust_env = False
    adapter = GuardedAdapter(policy)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session
