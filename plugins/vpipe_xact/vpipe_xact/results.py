"""Result messages of `xact.downloads.results` (xact.md §5.4) and their attachment-table rows (§12).

Pure functions over plain data: `parse_result` validates a message (InvalidMessage names the field),
`attachment_row` / `failed_row` map a valid result to a row of `xact_attachments` /
`xact_attachments_failed`, and `coalesce` folds repeated failures of one media id (§12: later
non-null values win).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import attrs

from vpipe_core.logs.redact import redact, truncate
from vpipe_core.transfer.presigned import stored_url
from vpipe_xact.events import InvalidEvent, coerce_id, parse_time
from vpipe_xact.messages import ATTACHMENT_FIELDS, InvalidMessage, read_message

TEXT_FIELDS = ATTACHMENT_FIELDS
UNKNOWN_ERROR = "Unknown error"

Row = dict[str, Any]


class ResultStatus(enum.StrEnum):
    COMPLETED = "completed"
    FAILED_PERMANENT = "failed_permanent"
    FAILED_EXHAUSTED = "failed_exhausted"


@attrs.frozen
class DownloadResult:
    """A validated §5.4 message: ids trimmed strings, times in UTC."""

    trace_id: str
    media_id: str
    attachment_url: str
    blob_path: str
    status_subtype: str
    file_type: str
    assignment_id: str
    event_id: str
    status: ResultStatus
    http_status: int | None
    bytes_downloaded: int
    retry_count: int
    error_category: str | None
    error_message: str | None
    original_timestamp: datetime
    created_at: datetime

    @property
    def failed(self) -> bool:
        return self.status is not ResultStatus.COMPLETED


def parse_result(raw: bytes | None) -> DownloadResult:
    """Validate a result message; raise InvalidMessage naming the field. Unknown fields are
    ignored (§1)."""
    message = read_message(raw, ())
    texts = {field: _required_id(message, field) for field in TEXT_FIELDS}
    try:
        original = parse_time(message.get("original_timestamp"), "original_timestamp")
        created = parse_time(message.get("created_at"), "created_at")
    except InvalidEvent as exc:
        raise InvalidMessage(str(exc)) from exc
    return DownloadResult(
        **texts,
        status=_status(message.get("status")),
        http_status=_optional_int(message, "http_status"),
        bytes_downloaded=_count(message, "bytes_downloaded", default=0),
        retry_count=_count(message, "retry_count", default=None),
        error_category=_optional_text(message, "error_category"),
        error_message=_error_message(message.get("error_message")),
        original_timestamp=original,
        created_at=created,
    )


def attachment_row(result: DownloadResult, now: datetime) -> Row:
    """`xact_attachments` (§12): `created_at` is the first write time (kept by the merge)."""
    return {
        "media_id": result.media_id,
        "trace_id": result.trace_id,
        "event_id": result.event_id,
        "attachment_url": stored_url(result.attachment_url),
        "blob_path": result.blob_path,
        "file_type": result.file_type,
        "status_subtype": result.status_subtype,
        "assignment_id": result.assignment_id,
        "bytes_downloaded": result.bytes_downloaded,
        "downloaded_at": result.created_at,
        "created_at": now,
        "event_date": result.original_timestamp.date(),
    }


def failed_row(result: DownloadResult, now: datetime) -> Row:
    """`xact_attachments_failed` (§12), `error_message` still None when the result had none
    (`with_default_message` fills it once duplicates are coalesced)."""
    return {
        "media_id": result.media_id,
        "trace_id": result.trace_id,
        "attachment_url": stored_url(result.attachment_url),
        "status": str(result.status),
        "error_category": result.error_category,
        "error_message": result.error_message,
        "failed_at": result.created_at,
        "retry_count": result.retry_count,
        "http_status": result.http_status,
        "created_at": now,
    }


def coalesce(earlier: Mapping[str, Any], later: Mapping[str, Any]) -> Row:
    """One row from two rows of the same key: later non-null values win."""
    return {key: later[key] if later.get(key) is not None else earlier.get(key) for key in later}


def with_default_message(row: Mapping[str, Any]) -> Row:
    return {**row, "error_message": row.get("error_message") or UNKNOWN_ERROR}


def _required_id(message: Mapping[str, Any], field: str) -> str:
    value = message.get(field)
    text = coerce_id(value) if isinstance(value, (str, int, float)) else None
    if text is None:
        raise InvalidMessage(f"{field}: required string, got {value!r}")
    return text


def _status(value: Any) -> ResultStatus:
    try:
        return ResultStatus(value)
    except ValueError:
        allowed = ", ".join(s.value for s in ResultStatus)
        raise InvalidMessage(f"status: expected one of {allowed}, got {value!r}") from None


def _optional_int(message: Mapping[str, Any], field: str) -> int | None:
    value = message.get(field)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidMessage(f"{field}: expected an integer or null, got {value!r}")
    return value


def _count(message: Mapping[str, Any], field: str, default: int | None) -> int:
    value = _optional_int(message, field)
    if value is None:
        if default is None:
            raise InvalidMessage(f"{field}: required integer, missing")
        return default
    if value < 0:
        raise InvalidMessage(f"{field}: must be >= 0, got {value}")
    return value


def _optional_text(message: Mapping[str, Any], field: str) -> str | None:
    value = message.get(field)
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidMessage(f"{field}: expected a string or null, got {value!r}")
    return value.strip() or None


def _error_message(value: Any) -> str | None:
    """Producers redact and truncate already; done again so the table never holds more."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidMessage(f"error_message: expected a string or null, got {value!r}")
    return truncate(redact(value)) if value.strip() else None
