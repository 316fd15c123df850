"""The download allow-list for local stand-ins (file servers, S3, the fake ClaimX API)."""

from __future__ import annotations

from urllib.parse import urlsplit

from vpipe_core.transfer.policy import IMPLIED_PORTS


def allow_attachments_from(*urls: str) -> dict[str, str]:
    """ALLOWED_ATTACHMENT_DOMAINS, _PORTS and _HTTP_HOSTS letting workers fetch from the hosts
    and ports of `urls` (each stand-in's base URL: local, so plain http and loopback addresses
    are allowed for them); none: the defaults stay."""
    if not urls:
        return {}
    parts = [urlsplit(url) for url in urls]
    hosts = {part.hostname or "" for part in parts}
    ports = {part.port or IMPLIED_PORTS[part.scheme] for part in parts}
    return {
        "ALLOWED_ATTACHMENT_DOMAINS": ",".join(sorted(hosts)),
        "ALLOWED_ATTACHMENT_PORTS": ",".join(str(port) for port in sorted(ports)),
        "ALLOWED_ATTACHMENT_HTTP_HOSTS": ",".join(sorted(hosts)),
    }
