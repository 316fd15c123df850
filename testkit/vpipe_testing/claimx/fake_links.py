"""Download links of the fake ClaimX API: rewritten to the fake server, signed, checked.

Two kinds, as in production (claimx.md §10.1):
- file-service `/cxfileservice/get/...?filename=..&systemDate=<ms>&expires=<ms>&sign=..`,
  answering 302 to an S3 presigned URL;
- S3 presigned `/s3/<bucket>/<key>?X-Amz-Date=..&X-Amz-Expires=..&X-Amz-Signature=..`
  (path-style on the fake server), serving the bytes.

Signatures are HMACs of the path and the time parameters under a per-server secret, so a
link only works as served: a changed time or path answers 403, and so does an expired link.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl, urlencode, urlsplit

import attrs

FILE_SERVICE_PREFIX = "/cxfileservice/get/"
S3_PREFIX = "/s3/"
S3_EXPIRES_S = 3600
FILE_SERVICE_EXPIRES_MS = 86_400_000
AMZ_DATE = "%Y%m%dT%H%M%SZ"
_S3_HOST_SUFFIX = ".s3.amazonaws.com"
_DEFAULT_BUCKET = "claimxperience"


@attrs.frozen
class FileEntry:
    """The file behind a served link."""

    project_id: str
    media_id: str
    media_type: str
    s3_path: str


class LinkSigner:
    def __init__(self, secret: bytes | None = None) -> None:
        self._secret = secret or secrets.token_bytes(16)

    def _mac(self, *parts: str) -> str:
        message = "\n".join(parts).encode()
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()

    def file_service_link(
        self, origin: str, path: str, filename: str | None, signed_at: datetime, expires_ms: int
    ) -> str:
        system_ms = str(int(signed_at.timestamp() * 1000))
        query = [("filename", filename)] if filename else []
        query += [
            ("systemDate", system_ms),
            ("expires", str(expires_ms)),
            ("sign", self._mac(path, system_ms, str(expires_ms))[:16]),
        ]
        return f"{origin}{path}?{urlencode(query)}"

    def s3_link(self, origin: str, s3_path: str, signed_at: datetime, expires_s: int) -> str:
        amz_date = signed_at.astimezone(UTC).strftime(AMZ_DATE)
        query = [
            ("X-Amz-Algorithm", "AWS4-HMAC-SHA256"),
            ("X-Amz-Date", amz_date),
            ("X-Amz-Expires", str(expires_s)),
            ("X-Amz-SignedHeaders", "host"),
            ("X-Amz-Signature", self._mac(s3_path, amz_date, str(expires_s))),
        ]
        return f"{origin}{s3_path}?{urlencode(query)}"

    def file_service_problem(self, path: str, query: dict[str, str], now: datetime) -> str | None:
        """Why this file-service link is refused (403), or None."""
        system_ms, expires_ms = query.get("systemDate", ""), query.get("expires", "")
        if not (system_ms.isdigit() and expires_ms.isdigit()):
            return "missing systemDate or expires"
        if query.get("sign") != self._mac(path, system_ms, expires_ms)[:16]:
            return "bad signature"
        if now.timestamp() * 1000 > int(system_ms) + int(expires_ms):
            return "link expired"
        return None

    def s3_problem(self, path: str, query: dict[str, str], now: datetime) -> str | None:
        """Why this S3 presigned URL is refused (403), or None."""
        amz_date, expires_s = query.get("X-Amz-Date", ""), query.get("X-Amz-Expires", "")
        try:
            signed = datetime.strptime(amz_date, AMZ_DATE).replace(tzinfo=UTC)
            lifetime = timedelta(seconds=int(expires_s))
        except ValueError:
            return "AuthorizationQueryParametersError"
        if query.get("X-Amz-Signature") != self._mac(path, amz_date, expires_s):
            return "SignatureDoesNotMatch"
        if now > signed + lifetime:
            return "Request has expired"
        return None


@attrs.frozen
class RewrittenLink:
    url: str
    served_path: str  # the path the fake server now answers for this link
    entry: FileEntry


def rewrite_link(
    link: str,
    *,
    project_id: str,
    media_id: str,
    media_type: str,
    origin: str,
    signer: LinkSigner,
    signed_at: datetime,
) -> RewrittenLink | None:
    """A stored `fullDownloadLink` re-hosted on `origin` and signed at `signed_at`; None when
    the link is neither a file-service nor an S3 link (it is then served unchanged)."""
    parts = urlsplit(link)
    query = dict(parse_qsl(parts.query))
    host = (parts.hostname or "").lower()
    if parts.path.startswith(FILE_SERVICE_PREFIX):
        s3_path = f"{S3_PREFIX}{_DEFAULT_BUCKET}/media/{project_id}/{media_id}.{media_type}"
        entry = FileEntry(project_id, media_id, media_type, s3_path)
        expires_ms = int(query.get("expires", FILE_SERVICE_EXPIRES_MS))
        url = signer.file_service_link(
            origin, parts.path, query.get("filename"), signed_at, expires_ms
        )
        return RewrittenLink(url, parts.path, entry)
    if host.endswith(_S3_HOST_SUFFIX):
        bucket = host.removesuffix(_S3_HOST_SUFFIX)
        s3_path = f"{S3_PREFIX}{bucket}{parts.path}"
        entry = FileEntry(project_id, media_id, media_type, s3_path)
        expires_s = int(query.get("X-Amz-Expires", S3_EXPIRES_S))
        return RewrittenLink(signer.s3_link(origin, s3_path, signed_at, expires_s), s3_path, entry)
    return None
