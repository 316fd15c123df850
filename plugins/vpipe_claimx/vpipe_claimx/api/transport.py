"""HTTP transport of the ClaimX API (claimx.md §11.1, §11.2): a call in, JSON or ApiError out.

Owns the process's urllib3 pool (sized for the concurrency, honouring HTTP(S)_PROXY / NO_PROXY
and the CA bundle), the in-flight bound, the rate limit and the `claimx_api` circuit. No call
is retried here: retries go through the worker's tiers.
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import unquote, urlencode, urlsplit, urlunsplit

import urllib3
from urllib3.exceptions import HTTPError, NewConnectionError, SSLError
from urllib3.exceptions import TimeoutError as Urllib3Timeout

import vpipe_core
from vpipe_claimx.api import metrics
from vpipe_claimx.api.errors import CIRCUIT_OPEN, ApiError, Endpoint, status_category
from vpipe_claimx.api.ratelimit import RateLimiter
from vpipe_core.config.loader import ConfigError
from vpipe_core.logs.redact import redact, register_secret, truncate
from vpipe_core.outcome import Category
from vpipe_core.retry.circuit import CircuitBreaker, CircuitOpen, Permit
from vpipe_core.retry.retry_after import retry_after_s
from vpipe_core.transfer.netconf import ProxyConfig

log = logging.getLogger("vpipe.claimx.api")

LOGGED_BODY_CHARS = 500
_READ_CHUNK = 64 * 1024
_REDACT_SCAN_BYTES = 16 * 1024
_BASIC_PREFIX = re.compile(r"basic(?:\s+|$)", re.IGNORECASE)


def basic_authorization(token: str) -> str:
    """The Authorization value for `token` = base64(user:password).

    A token that already starts with "Basic " has the prefix removed once, with a warning: a
    template with the prefix once doubled it and every call got 401.
    """
    value = token.strip()
    prefix = _BASIC_PREFIX.match(value)
    if prefix is not None:
        log.warning(
            "CLAIMX_API_TOKEN starts with 'Basic '; the prefix is removed "
            "(set the variable to base64(user:password) only)"
        )
        value = value[prefix.end() :]
    if not value:
        raise ConfigError(["CLAIMX_API_TOKEN: empty token"])
    register_secret(value)
    return f"Basic {value}"


def join_url(base_url: str, path: str) -> str:
    """`base_url` and `path` joined by exactly one `/`."""
    return f"{base_url.rstrip('/')}/{path.lstrip('/')}"


def pool_manager(
    base_url: str, *, max_connections: int, ca_bundle: str | None, proxy: ProxyConfig
) -> urllib3.PoolManager:
    """A pool for `base_url`'s host, through the proxy `proxy` names for it (if any)."""
    if ca_bundle is not None and not os.path.isfile(ca_bundle):
        source = "CA_BUNDLE (or SSL_CERT_FILE / REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE)"
        raise ConfigError([f"{source}: {ca_bundle} is not a file"])
    options: dict[str, Any] = {
        "num_pools": 2,
        "maxsize": max_connections,
        "block": True,
        "cert_reqs": "CERT_REQUIRED",
        "ca_certs": ca_bundle,
    }
    through = proxy.proxy_for(base_url)
    if through is None:
        return urllib3.PoolManager(**options)
    proxy_url, credentials = _split_credentials(through)
    if credentials:
        options["proxy_headers"] = urllib3.make_headers(proxy_basic_auth=credentials)
    log.info("ClaimX API through proxy %s", proxy_url)
    return urllib3.ProxyManager(proxy_url, **options)


def _split_credentials(proxy: str) -> tuple[str, str | None]:
    """The proxy URL without `user:password@`, and those (percent-decoded) for the
    Proxy-Authorization header: urllib3 does not read credentials from a proxy URL."""
    parts = urlsplit(proxy if "://" in proxy else f"http://{proxy}")
    if parts.username is None:
        return urlunsplit(parts), None
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    credentials = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
    return urlunsplit(parts._replace(netloc=netloc)), credentials


def parse_json(body: bytes) -> Any:
    """JSON with non-integer numbers as `Decimal` (exact: 1587.25 stays 1587.25)."""
    return json.loads(body, parse_float=Decimal)


class Transport:
    """Thread-safe: callers share one instance across a thread pool."""

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        pool: urllib3.PoolManager,
        breaker: CircuitBreaker,
        rate_limiter: RateLimiter,
        concurrency: int,
        timeout_s: float,
        connect_timeout_s: float = 10.0,
        monotonic: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        if urlsplit(base_url).scheme not in ("http", "https"):
            raise ConfigError([f"CLAIMX_API_URL: {base_url!r} is not an http(s) URL"])
        self.base_url = base_url
        self.breaker = breaker
        self._pool = pool
        self._rate_limiter = rate_limiter
        self._slots = threading.BoundedSemaphore(concurrency)
        self._timeout_s = timeout_s
        self._timeout = urllib3.Timeout(total=timeout_s, connect=min(connect_timeout_s, timeout_s))
        self._monotonic = monotonic
        self._now = now
        self._headers = {
            "Accept": "application/json",
            "Authorization": basic_authorization(token),
            "User-Agent": f"vpipe/{vpipe_core.__version__}",
        }

    def close(self) -> None:
        self._pool.clear()

    def call(
        self,
        endpoint: Endpoint,
        method: str,
        path: str,
        *,
        query: Mapping[str, str] | None = None,
        body: Any = None,
    ) -> Any:
        """The parsed JSON answer, or None for ok-empty (other 2xx, empty body, JSON null)."""
        permit = self._admit(endpoint)
        counts: bool | None = None  # what the call says about the service, for the circuit
        try:
            with self._slots:
                self._rate_limiter.wait()
                result = self._exchange(endpoint, method, path, query, body)
            counts = True
            return result
        except ApiError as error:
            counts = error.category is not Category.TRANSIENT
            raise
        finally:
            self._settle(permit, counts)

    def _admit(self, endpoint: Endpoint) -> Permit:
        try:
            return self.breaker.acquire()
        except CircuitOpen as exc:
            metrics.requests_total.labels(endpoint, CIRCUIT_OPEN).inc()
            wait = exc.retry_in_s if exc.retry_in_s > 0 else None
            raise ApiError(Category.TRANSIENT, endpoint, CIRCUIT_OPEN, retry_after_s=wait) from None

    def _settle(self, permit: Permit, counts: bool | None) -> None:
        if counts is None:
            self.breaker.release(permit)
        else:
            self.breaker.record(permit, ok=counts)

    def _exchange(
        self,
        endpoint: Endpoint,
        method: str,
        path: str,
        query: Mapping[str, str] | None,
        body: Any,
    ) -> Any:
        url = join_url(self.base_url, path)
        if query:
            url = f"{url}?{urlencode(query, safe=',')}"
        headers = dict(self._headers)
        payload = None
        if body is not None:
            headers["Content-Type"] = "application/json"
            payload = json.dumps(body, default=_json_default).encode()
        started = self._monotonic()
        try:
            status, response_headers, data = self._send(method, url, headers, payload, started)
        except (HTTPError, OSError) as exc:
            metrics.requests_total.labels(endpoint, "error").inc()
            raise _transport_error(endpoint, exc) from exc
        finally:
            metrics.request_seconds.labels(endpoint).observe(self._monotonic() - started)
        metrics.requests_total.labels(endpoint, metrics.status_class(status)).inc()
        return self._interpret(endpoint, status, response_headers, data)

    def _send(
        self, method: str, url: str, headers: dict[str, str], payload: bytes | None, started: float
    ) -> tuple[int, Mapping[str, str], bytes]:
        response = self._pool.request(
            method,
            url,
            body=payload,
            headers=headers,
            timeout=self._timeout,
            retries=False,  # no in-client retries and no redirects: tiers retry
            redirect=False,
            preload_content=False,
        )
        try:
            data = self._read_body(response, started + self._timeout_s)
        except BaseException:
            response.close()
            raise
        finally:
            response.release_conn()
        return response.status, response.headers, data

    def _read_body(self, response: urllib3.BaseHTTPResponse, deadline: float) -> bytes:
        """The whole body, within the request's total time (a slow trickle is a timeout)."""
        pieces: list[bytes] = []
        for piece in response.stream(_READ_CHUNK):
            pieces.append(piece)
            if self._monotonic() > deadline:
                raise Urllib3Timeout(f"body not complete within {self._timeout_s:g} s")
        return b"".join(pieces)

    def _interpret(
        self, endpoint: Endpoint, status: int, headers: Mapping[str, str], data: bytes
    ) -> Any:
        category = status_category(status)
        if category is None:
            return _ok_body(endpoint, status, data)
        text = _loggable(data)
        log.warning("ClaimX API %s answered HTTP %d: %s", endpoint, status, text)
        if category is Category.AUTH:
            metrics.auth_failures_total.labels(endpoint).inc()
        retry_after = None
        if category is Category.TRANSIENT:
            retry_after = retry_after_s(headers.get("Retry-After"), self._now())
        raise ApiError(
            category,
            endpoint,
            f"HTTP {status}",
            status=status,
            retry_after_s=retry_after,
            detail=truncate(text, 200),
        )


def _loggable(data: bytes) -> str:
    """The start of a body for logs: redacted first, then cut to LOGGED_BODY_CHARS."""
    text = data[:_REDACT_SCAN_BYTES].decode("utf-8", "replace")
    return truncate(redact(text), LOGGED_BODY_CHARS)


def _ok_body(endpoint: Endpoint, status: int, data: bytes) -> Any:
    if status != 200 or not data.strip():
        return None
    try:
        return parse_json(data)
    except ValueError:  # includes UnicodeDecodeError
        text = _loggable(data)
        log.warning("ClaimX API %s answered 200 with a non-JSON body: %s", endpoint, text)
        raise ApiError(
            Category.TRANSIENT, endpoint, "non-JSON body", status=status, detail=text[:200]
        ) from None


def _transport_error(endpoint: Endpoint, exc: BaseException) -> ApiError:
    # NewConnectionError (refused, DNS) subclasses ConnectTimeoutError: test it first.
    if isinstance(exc, NewConnectionError):
        reason = "connection error"
    elif isinstance(exc, SSLError):
        reason = "TLS error"
    elif isinstance(exc, Urllib3Timeout | TimeoutError):
        reason = "timeout"
    else:
        reason = "connection error"
    log.warning("ClaimX API %s %s: %s", endpoint, reason, redact(str(exc)))
    return ApiError(Category.TRANSIENT, endpoint, reason, detail=truncate(str(exc), 200))


def _json_default(value: object) -> object:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")
