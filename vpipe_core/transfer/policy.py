"""Which URLs may be fetched: checked before every request and every redirect hop.

A URL passes when its scheme is https (http only for hosts of ALLOWED_ATTACHMENT_HTTP_HOSTS), its
lower-cased host equals an allow-list entry, its port (443 when implied) is an allowed one, it
is not a non-public IP literal or a cloud metadata name (unless allow-listed), and every address
the host resolves to is public (unless the host is in ALLOWED_ATTACHMENT_HTTP_HOSTS). The
downloader connects only to addresses that passed the same guard, so a name that resolves
differently between the check and the connection (DNS rebinding) is still refused.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, NamedTuple
from urllib.parse import SplitResult, urlsplit

from vpipe_core.logs.redact import redact

if TYPE_CHECKING:
    from vpipe_core.transfer.settings import TransferSettings

METADATA_HOSTS = frozenset(
    {
        "169.254.169.254",
        "fd00:ec2::254",
        "metadata.google.internal",
        "metadata.aws.internal",
        "instance-data",
        "instance-data.ec2.internal",
    }
)
DEFAULT_RESOLVE_TIMEOUT_S = 10.0
DEFAULT_PORTS = frozenset({443})
PORTS_SETTING = "ALLOWED_ATTACHMENT_PORTS"
HTTP_HOSTS_SETTING = "ALLOWED_ATTACHMENT_HTTP_HOSTS"
IMPLIED_PORTS = {"https": 443, "http": 80}  # the port of a URL that names none
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
# RFC 8215 local-use NAT64: not globally reachable, and where the IPv4 address sits depends on
# the operator's prefix length, so it cannot be read reliably.
_LOCAL_NAT64 = ipaddress.ip_network("64:ff9b:1::/48")
# Deprecated IPv4-compatible addresses (RFC 4291 §2.5.5.1): `::a.b.c.d`.
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
# host -> the IP addresses it resolves to (strings); raises OSError when it cannot resolve.
Resolver = Callable[[str], Sequence[str]]


class UrlRejected(Exception):
    """The URL breaks the policy: never requested, a permanent failure."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class ResolutionFailed(OSError):
    """The host could not be resolved in time: a transient failure (DNS)."""


class ParsedUrl(NamedTuple):
    url: str
    scheme: str
    host: str
    port: int | None
    path: str
    query: str


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip in _NAT64 or ip in _IPV4_COMPATIBLE:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def is_public(ip: IpAddress) -> bool:
    """Globally routable unicast: not private, loopback, link-local, reserved or metadata. An
    IPv6 address that embeds an IPv4 one (mapped, 6to4, NAT64, IPv4-compatible) is judged by
    the IPv4 address."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip in _LOCAL_NAT64:
            return False
        embedded = _embedded_ipv4(ip)
        if embedded is not None:
            return is_public(embedded)
    return ip.is_global and not ip.is_multicast and str(ip) not in METADATA_HOSTS


def _ip_literal(host: str) -> IpAddress | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def system_resolver(timeout_s: float = DEFAULT_RESOLVE_TIMEOUT_S) -> Resolver:
    """`socket.getaddrinfo` with a timeout (it has none of its own).

    The lookup runs in a daemon thread, so a hung resolver never blocks the caller nor the
    interpreter's exit.
    """

    def resolve(host: str) -> list[str]:
        result: list[str] = []
        failure: list[BaseException] = []

        def lookup() -> None:
            try:
                infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
                result.extend(dict.fromkeys(str(info[4][0]) for info in infos))
            except BaseException as exc:  # handed to the caller below
                failure.append(exc)

        thread = threading.Thread(target=lookup, name="vpipe-resolve", daemon=True)
        thread.start()
        thread.join(timeout_s)
        if thread.is_alive():
            raise ResolutionFailed(f"resolving {host} timed out after {timeout_s:g} s")
        if failure:
            raise ResolutionFailed(f"cannot resolve {host}: {failure[0]}")
        if not result:
            raise ResolutionFailed(f"{host} resolves to no address")
        return result

    return resolve


class UrlPolicy:
    """The allow-list and address rules for attachment URLs.

    `allowed_hosts` are compared exactly (lower-cased, no wildcards); `allowed_ports` are the
    ports any of them may be reached on (the scheme's port when the URL has none). Hosts in
    `allow_http_hosts` (ALLOWED_ATTACHMENT_HTTP_HOSTS, none by default) that are also allowed may
    use plain http and may resolve to loopback or private addresses (local test servers); every
    other allowed name must resolve to public addresses only. An IP literal is allowed only when
    it is itself on the allow-list.
    """

    def __init__(
        self,
        allowed_hosts: frozenset[str],
        allow_http_hosts: frozenset[str] = frozenset(),
        *,
        allowed_ports: frozenset[int] = DEFAULT_PORTS,
        resolver: Resolver | None = None,
        resolve_timeout_s: float = DEFAULT_RESOLVE_TIMEOUT_S,
    ) -> None:
        self.allowed_hosts = frozenset(host.strip().lower() for host in allowed_hosts)
        self.allow_http_hosts = frozenset(host.strip().lower() for host in allow_http_hosts)
        self._local_hosts = self.allowed_hosts & self.allow_http_hosts
        self.allowed_ports = frozenset(allowed_ports)
        self._resolve = resolver or system_resolver(resolve_timeout_s)

    def check(self, url: str, *, resolve: bool = True) -> ParsedUrl:
        """The parsed URL, or `UrlRejected`; `ResolutionFailed` when DNS fails (transient)."""
        parsed = _parse(url)
        self._check_host(parsed.host)
        self._check_scheme(parsed)
        self._check_port(parsed)
        if resolve:
            self.addresses(parsed.host)
        return parsed

    def addresses(self, host: str) -> list[str]:
        """The addresses to connect to for an allowed `host`; refused if any is non-public."""
        host = host.lower()
        literal = _ip_literal(host)
        if literal is not None:
            return [str(literal)]
        addresses = self._resolved(host)
        if host in self._local_hosts:
            return addresses
        for address in addresses:
            ip = _ip_literal(address.split("%", 1)[0])
            if ip is None or not is_public(ip):
                raise UrlRejected(
                    f"host {host} resolves to a non-public address {address} "
                    f"(allowed only for hosts in {HTTP_HOSTS_SETTING})"
                )
        return addresses

    def _resolved(self, host: str) -> list[str]:
        try:
            addresses = list(self._resolve(host))
        except ResolutionFailed:
            raise
        except OSError as exc:
            raise ResolutionFailed(f"cannot resolve {host}: {exc}") from exc
        if not addresses:
            raise ResolutionFailed(f"{host} resolves to no address")
        return addresses

    def _check_host(self, host: str) -> None:
        allowed = host in self.allowed_hosts
        literal = _ip_literal(host)
        if literal is not None and not is_public(literal) and not allowed:
            raise UrlRejected(f"non-public address {host}")
        if host in METADATA_HOSTS and not allowed:
            raise UrlRejected(f"metadata host {host}")
        if not allowed:
            raise UrlRejected(f"host {host} is not allowed")

    def _check_scheme(self, parsed: ParsedUrl) -> None:
        if parsed.scheme == "https":
            return
        if parsed.scheme == "http" and parsed.host in self._local_hosts:
            return
        hint = (
            f" (plain http needs the host in {HTTP_HOSTS_SETTING})"
            if parsed.scheme == "http"
            else ""
        )
        raise UrlRejected(
            f"scheme {parsed.scheme or '(none)'} is not allowed for {parsed.host}{hint}"
        )

    def _check_port(self, parsed: ParsedUrl) -> None:
        port = parsed.port or IMPLIED_PORTS[parsed.scheme]
        if port in self.allowed_ports:
            return
        allowed = ",".join(str(p) for p in sorted(self.allowed_ports))
        raise UrlRejected(
            f"port {port} is not allowed for {parsed.host} ({PORTS_SETTING}={allowed}); "
            f"add {port} to {PORTS_SETTING} if this host really serves attachments there"
        )


def url_policy(transfer: TransferSettings) -> UrlPolicy:
    """The policy of ALLOWED_ATTACHMENT_DOMAINS (default: the hosts the installed domains
    declare), ALLOWED_ATTACHMENT_PORTS and ALLOWED_ATTACHMENT_HTTP_HOSTS."""
    hosts = transfer.allowed_attachment_domains
    if hosts is None:
        from vpipe_core.config.loader import all_settings_classes
        from vpipe_core.transfer.settings import declared_attachment_hosts

        hosts = declared_attachment_hosts(all_settings_classes().values())
    return UrlPolicy(
        frozenset(hosts),
        frozenset(transfer.allowed_attachment_http_hosts),
        allowed_ports=frozenset(transfer.allowed_attachment_ports),
    )


def _parse(url: str) -> ParsedUrl:
    try:
        split: SplitResult = urlsplit(url)
        port = split.port
    except ValueError as exc:
        raise UrlRejected(f"malformed URL {redact(url)}: {exc}") from exc
    if split.username is not None or split.password is not None:
        raise UrlRejected("credentials in the URL are not allowed")
    host = (split.hostname or "").lower()
    if not host:
        raise UrlRejected(f"no host in URL {redact(url)}")
    return ParsedUrl(url, split.scheme.lower(), host, port, split.path, split.query)
