"""Proxy and CA bundle settings for the transfer clients (runtime.md §7, §13: "one proxy and CA
configuration applied to every client").

Read from the worker's effective environment (process environment over the `.env` file), not
from `os.environ` alone: a proxy set only in the `.env` file must reach the clients too.
urllib3 ignores proxy variables by itself, and the DataLake client's requests session would
read only the process environment, so both get explicit settings from here.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit

import attrs

CA_FALLBACKS = ("SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")


def _first(env: Mapping[str, str], *names: str) -> str | None:
    for name in names:
        value = env.get(name, "").strip()
        if value:
            return value
    return None


def ca_bundle(configured: Path | None, env: Mapping[str, str]) -> str | None:
    """`CA_BUNDLE`, else the first of SSL_CERT_FILE, REQUESTS_CA_BUNDLE, CURL_CA_BUNDLE; None
    means the system trust store."""
    if configured is not None:
        return str(configured)
    return _first(env, *CA_FALLBACKS)


@attrs.frozen
class ProxyConfig:
    """`HTTPS_PROXY` / `HTTP_PROXY` (upper or lower case) with `NO_PROXY` exceptions."""

    https: str | None = None
    http: str | None = None
    no_proxy: str = ""

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> ProxyConfig:
        return cls(
            https=_first(env, "HTTPS_PROXY", "https_proxy"),
            http=_first(env, "HTTP_PROXY", "http_proxy"),
            no_proxy=_first(env, "NO_PROXY", "no_proxy") or "",
        )

    def proxy_for(self, url: str) -> str | None:
        """The proxy a request to `url` goes through, or None for a direct connection."""
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        proxy = self.https if scheme == "https" else self.http if scheme == "http" else None
        if proxy is None or not parts.hostname:
            return None
        if bypasses_proxy(parts.hostname, parts.port, self.no_proxy):
            return None
        return proxy

    def requests_proxies(self, url: str) -> dict[str, str]:
        """The `proxies` of a requests session that only talks to `url`'s host."""
        proxy = self.proxy_for(url)
        return {"http": proxy, "https": proxy} if proxy else {}


def bypasses_proxy(host: str, port: int | None, no_proxy: str) -> bool:
    """`NO_PROXY` as curl and requests read it: `*`, host names matching themselves and their
    subdomains (a leading dot is optional), `host:port`, IP addresses and CIDR ranges."""
    host = host.lower().strip("[]")
    for entry in (item.strip().lower() for item in no_proxy.split(",")):
        if not entry:
            continue
        if entry == "*":
            return True
        name, _, entry_port = entry.partition(":") if entry.count(":") == 1 else (entry, "", "")
        if entry_port and str(port) != entry_port:
            continue
        name = name.lstrip(".")
        if host == name or host.endswith("." + name) or _in_network(host, name):
            return True
    return False


def _in_network(host: str, entry: str) -> bool:
    try:
        return ipaddress.ip_address(host) in ipaddress.ip_network(entry, strict=False)
    except ValueError:
        return False
