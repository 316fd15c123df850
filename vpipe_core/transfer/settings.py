"""Transfer settings shared by every domain's download and upload workers (runtime.md §7)."""

from __future__ import annotations

from pathlib import Path

import attrs

from vpipe_core.config.fields import setting
from vpipe_core.storage.paths import PATH_STYLE_SETTING
from vpipe_core.transfer.policy import DEFAULT_PORTS, HTTP_HOSTS_SETTING, PORTS_SETTING

# xact.md §10.1: the hosts both domains' attachments come from (XACT exports, ClaimX media).
DEFAULT_ATTACHMENT_HOSTS = (
    "usw2-prod-xn-exportreceiver-publish.s3.us-west-2.amazonaws.com",
    "claimxperience.s3.amazonaws.com",
    "claimxperience.s3.us-east-1.amazonaws.com",
    "www.claimxperience.com",
    "claimxperience.com",
    "xactware-claimx-us-prod.s3.us-west-1.amazonaws.com",
)


@attrs.frozen
class TransferSettings:
    allowed_attachment_domains: tuple[str, ...] = setting(
        "ALLOWED_ATTACHMENT_DOMAINS",
        DEFAULT_ATTACHMENT_HOSTS,
        help="download allow-list, exact host names (replaces the defaults)",
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
