"""Transfer settings shared by every domain's download and upload workers (runtime.md §7)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import attrs

from vpipe_core.config.fields import setting
from vpipe_core.storage.paths import PATH_STYLE_SETTING
from vpipe_core.transfer.policy import DEFAULT_PORTS, HTTP_HOSTS_SETTING, PORTS_SETTING

HOSTS_ATTRIBUTE = "ATTACHMENT_HOSTS"  # what a domain's settings class names its hosts by


@attrs.frozen
class TransferSettings:
    allowed_attachment_domains: tuple[str, ...] | None = setting(
        "ALLOWED_ATTACHMENT_DOMAINS",
        None,
        help="download allow-list, exact host names (default: every installed domain's hosts)",
    )
    allowed_attachment_ports: tuple[int, ...] = setting(
        PORTS_SETTING,
        tuple(sorted(DEFAULT_PORTS)),
        min=1,
        max=65535,
        help="ports the allow-listed hosts may be reached on (https without a port: 443)",
    )
    allowed_attachment_http_hosts: tuple[str, ...] = setting(
        HTTP_HOSTS_SETTING,
        (),
        help="allow-listed hosts that may use plain http and private or loopback addresses "
        "(local test servers; none in production)",
    )
    connect_timeout_s: int = setting(
        "DOWNLOAD_CONNECT_TIMEOUT_SECONDS", 30, min=1, max=600, help="connect timeout"
    )
    stall_timeout_s: int = setting(
        "DOWNLOAD_STALL_TIMEOUT_SECONDS", 60, min=1, max=3600, help="no byte for this long fails"
    )
    range_threshold_mb: int = setting(
        "DOWNLOAD_RANGE_THRESHOLD_MB", 50, min=1, max=100000, help="ranged download from size"
    )
    range_chunk_mb: int = setting(
        "DOWNLOAD_RANGE_CHUNK_MB", 20, min=1, max=10000, help="range size"
    )
    max_mb: int = setting(
        "DOWNLOAD_MAX_MB",
        4096,
        min=1,
        max=1_000_000,
        help="largest attachment accepted (MiB); a larger one fails for good, unread",
    )
    extensions: tuple[str, ...] | None = setting(
        "DOWNLOAD_EXTENSIONS", None, help="allowed file extensions (default: built-in list)"
    )
    type_rules_file: Path | None = setting(
        "DOWNLOAD_TYPE_RULES_FILE", None, help="JSON content-type rules (default: built-in)"
    )
    onelake_base_path: str | None = setting(
        "ONELAKE_BASE_PATH", None, help="OneLake Files directory (abfss://…) or file:///dir"
    )
    onelake_path_style_hosts: tuple[str, ...] = setting(
        PATH_STYLE_SETTING,
        (),
        help="hosts whose DFS endpoint is addressed path-style, http allowed: "
        "http(s)://<host>:<port>/<account>/<fs>/<dir> (local emulators, the test kit's stand-in)",
    )
    onelake_timeout_s: int = setting(
        "ONELAKE_TIMEOUT_SECONDS", 300, min=1, max=3600, help="OneLake call timeout"
    )
    cache_max_age_hours: int = setting(
        "CACHE_MAX_AGE_HOURS", 24, min=1, max=720, help="cache cleaner age"
    )


def declared_attachment_hosts(classes: Iterable[type]) -> tuple[str, ...]:
    """The hosts the settings classes declare in `ATTACHMENT_HOSTS`, in order, once each: the
    allow-list when ALLOWED_ATTACHMENT_DOMAINS is unset."""
    hosts = (host for cls in classes for host in getattr(cls, HOSTS_ATTRIBUTE, ()))
    return tuple(dict.fromkeys(hosts))
