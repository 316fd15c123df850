"""urllib3 plumbing for downloads: a pool manager that connects only to addresses the URL policy
accepted, proxies when the environment names one, and a GET that follows redirects itself,
checking every hop against the policy.

Through a proxy the proxy resolves and connects, so the address guard cannot apply; the host
allow-list and the IP-literal rules still do, and the local resolver is not consulted (in
proxied networks it often cannot resolve external names at all).
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Mapping, Sequence
from typing import Any
from urllib.parse import unquote, urljoin, urlsplit

import urllib3
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError
from urllib3.util import connection as urllib3_connection

from vpipe_core.transfer.netconf import ProxyConfig
from vpipe_core.transfer.policy import UrlPolicy

MAX_REDIRECTS = 5
# One immediate retry when the request fails before a response starts, e.g. on a pooled
# keep-alive connection the server has just closed. Redirects and statuses are ours to handle.
REQUEST_RETRIES = urllib3.Retry(
    total=1,
    connect=1,
    read=1,
    other=0,
    status=0,
    redirect=False,
    raise_on_redirect=False,
    raise_on_status=False,
    respect_retry_after_header=False,
)
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
# host -> addresses that may be connected to; raises UrlRejected or OSError.
AddressGuard = Callable[[str], Sequence[str]]
_GUARD_KEYWORD = "address_guard"
_SHORT_BODY_BYTES = 64 * 1024


class RedirectRefused(Exception):
    """A redirect that cannot be followed; `auth` tells a 3xx without a usable Location."""

    def __init__(self, reason: str, status: int, *, auth: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status
        self.auth = auth


def _connect_guarded(conn: HTTPConnection, guard: AddressGuard) -> socket.socket:
    """Resolve through the guard and connect to the first accepted address that answers.

    TLS (SNI, certificate check) and the Host header still use the URL's host name.
    """
    try:
        addresses = guard(conn._dns_host)
    except OSError as exc:  # DNS failure or timeout: transient, like any connect error
        raise NewConnectionError(conn, f"cannot resolve {conn.host}: {exc}") from exc
    last_error: OSError | None = None
    for address in addresses:
        try:
            return urllib3_connection.create_connection(
                (address, conn.port),
                conn.timeout,
                source_address=conn.source_address,
                socket_options=conn.socket_options,
            )
        except TimeoutError as exc:
            message = f"connecting to {conn.host} timed out ({conn.timeout} s)"
            raise ConnectTimeoutError(conn, message) from exc
        except OSError as exc:
            last_error = exc
    raise NewConnectionError(conn, f"cannot connect to {conn.host}: {last_error}") from last_error


class _GuardedHTTPConnection(HTTPConnection):
    def __init__(self, *args: Any, address_guard: AddressGuard, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._address_guard = address_guard

    def _new_conn(self) -> socket.socket:
        return _connect_guarded(self, self._address_guard)


class _GuardedHTTPSConnection(HTTPSConnection):
    def __init__(self, *args: Any, address_guard: AddressGuard, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._address_guard = address_guard

    def _new_conn(self) -> socket.socket:
        return _connect_guarded(self, self._address_guard)


class _GuardedHTTPConnectionPool(HTTPConnectionPool):
    ConnectionCls = _GuardedHTTPConnection


class _GuardedHTTPSConnectionPool(HTTPSConnectionPool):
    ConnectionCls = _GuardedHTTPSConnection


class GuardedPoolManager(urllib3.PoolManager):
    """A `PoolManager` whose connections go only to addresses `address_guard` returns."""

    def __init__(self, address_guard: AddressGuard, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._address_guard = address_guard
        self.pool_classes_by_scheme = {
            "http": _GuardedHTTPConnectionPool,
            "https": _GuardedHTTPSConnectionPool,
        }

    def _new_pool(
        self,
        scheme: str,
        host: str,
        port: int,
        request_context: dict[str, Any] | None = None,
    ) -> HTTPConnectionPool:
        context = dict(self.connection_pool_kw if request_context is None else request_context)
        context[_GUARD_KEYWORD] = self._address_guard
        return super()._new_pool(scheme, host, port, context)


class Connections:
    """The direct, guarded pool and one `ProxyManager` per configured proxy, chosen per URL."""

    def __init__(
        self, address_guard: AddressGuard, proxy: ProxyConfig | None = None, **pool_kw: Any
    ) -> None:
        self.direct = GuardedPoolManager(address_guard, **pool_kw)
        self._proxy = proxy
        self._pool_kw = pool_kw
        self._proxied: dict[str, urllib3.ProxyManager] = {}

    def proxied(self, url: str) -> bool:
        return self._proxy is not None and self._proxy.proxy_for(url) is not None

    def for_url(self, url: str) -> urllib3.PoolManager:
        proxy = self._proxy.proxy_for(url) if self._proxy is not None else None
        if proxy is None:
            return self.direct
        manager = self._proxied.get(proxy)
        if manager is None:
            manager = self._proxied[proxy] = _proxy_manager(proxy, self._pool_kw)
        return manager

    def clear(self) -> None:
        self.direct.clear()
        for manager in self._proxied.values():
            manager.clear()


def _proxy_manager(proxy: str, pool_kw: Mapping[str, Any]) -> urllib3.ProxyManager:
    """urllib3 wants a scheme and takes proxy credentials as a header, not from the URL."""
    parts = urlsplit(proxy if "://" in proxy else f"http://{proxy}")
    headers = None
    if parts.username is not None:
        credentials = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
        headers = urllib3.make_headers(proxy_basic_auth=credentials)
    host = parts.hostname or ""
    netloc = f"[{host}]" if ":" in host else host
    if parts.port is not None:
        netloc += f":{parts.port}"
    return urllib3.ProxyManager(f"{parts.scheme}://{netloc}", proxy_headers=headers, **pool_kw)


def discard(response: urllib3.BaseHTTPResponse) -> None:
    """Close a response whose body is not wanted and hand its connection back to the pool."""
    response.close()
    response.release_conn()


def _release_short(response: urllib3.BaseHTTPResponse) -> None:
    """Keep the connection of a short body (a redirect's) alive; close it for anything else."""
    length = response.headers.get("Content-Length", "")
    if length.isdigit() and int(length) <= _SHORT_BODY_BYTES:
        response.drain_conn()
        response.release_conn()
    else:
        discard(response)


def get_checked(
    connections: Connections,
    policy: UrlPolicy,
    url: str,
    headers: Mapping[str, str],
    timeout: urllib3.Timeout,
) -> urllib3.BaseHTTPResponse:
    """GET `url` (already checked), following at most `MAX_REDIRECTS` redirects.

    Every Location is checked with the policy before it is requested (`UrlRejected`); the
    returned response is not a redirect and its body is not read yet.
    """
    for hop in range(MAX_REDIRECTS + 1):
        response = connections.for_url(url).request(
            "GET",
            url,
            headers=dict(headers),
            timeout=timeout,
            retries=REQUEST_RETRIES,
            redirect=False,
            preload_content=False,
            decode_content=False,
        )
        if not 300 <= response.status < 400:
            return response
        url = _next_hop(response, url, hop)
        policy.check(url, resolve=not connections.proxied(url))
    raise AssertionError("unreachable")  # pragma: no cover


def _next_hop(response: urllib3.BaseHTTPResponse, url: str, hop: int) -> str:
    status = response.status
    location = response.headers.get("Location", "").strip()
    _release_short(response)
    if status not in REDIRECT_STATUSES or not location:
        raise RedirectRefused(f"HTTP {status} without a usable Location", status, auth=True)
    if hop >= MAX_REDIRECTS:
        raise RedirectRefused(f"more than {MAX_REDIRECTS} redirects", status)
    return urljoin(url, location)
