"""Expiry of presigned URLs, read from the query string; nothing is requested.

- S3 (SigV4): `X-Amz-Date` (`%Y%m%dT%H%M%SZ`) + `X-Amz-Expires` seconds.
- Azure SAS: `se` (ISO 8601 instant or date, UTC), when the query also carries `sig`.

Parameter names are matched case-insensitively. A missing or unparseable expiry is unknown
(`None`): the URL is tried. `stored_url` is the form results and tables keep, without signatures.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl, urlsplit

from vpipe_core.logs.redact import redact

DEFAULT_SKEW_S = 60.0
_AMZ_DATE_FORMAT = "%Y%m%dT%H%M%SZ"
_MAX_EXPIRES_S = 10 * 365 * 24 * 3600


def stored_url(url: str | None) -> str | None:
    """The URL as result messages and tables keep it: signature, credential, token and SAS
    values replaced by `[REDACTED]`, so a stored link cannot be used (tasks keep the real one)."""
    return None if url is None else redact(url)


def _query(url: str) -> dict[str, str]:
    """Query parameters by lower-cased name; the first occurrence wins."""
    try:
        pairs = parse_qsl(urlsplit(url).query, keep_blank_values=True)
    except ValueError:
        return {}
    params: dict[str, str] = {}
    for name, value in pairs:
        params.setdefault(name.lower(), value)
    return params


def _as_utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def _s3_expiry(params: dict[str, str]) -> datetime | None:
    date_text, expires_text = params.get("x-amz-date"), params.get("x-amz-expires")
    if not date_text or not expires_text:
        return None
    try:
        signed = datetime.strptime(date_text.strip(), _AMZ_DATE_FORMAT).replace(tzinfo=UTC)
        expires = int(expires_text.strip())
    except ValueError:
        return None
    if not 0 <= expires <= _MAX_EXPIRES_S:
        return None
    return signed + timedelta(seconds=expires)


def _sas_expiry(params: dict[str, str]) -> datetime | None:
    text = params.get("se")
    if not text or "sig" not in params:
        return None
    try:
        return _as_utc(datetime.fromisoformat(text.strip()))
    except ValueError:
        return None


def presigned_expiry(url: str) -> datetime | None:
    """When the presigned `url` stops working (UTC), or None when it does not say."""
    params = _query(url)
    return _s3_expiry(params) or _sas_expiry(params)


def is_expired(url: str, now: datetime, skew_s: float = DEFAULT_SKEW_S) -> bool:
    """True when `now + skew_s` is at or past the URL's expiry; False when the expiry is unknown.

    `now` may also be a future instant, e.g. the due time of a retry. Naive values are UTC.
    """
    expiry = presigned_expiry(url)
    if expiry is None:
        return False
    return _as_utc(now) + timedelta(seconds=skew_s) >= expiry
