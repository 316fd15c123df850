"""`claimx-result-processor` (claimx.md §9.2): `claimx.downloads.results` → attachment tables.

`completed` results merge into `claimx_attachments` on `media_id` (`created_at` kept);
`failed_permanent` / `failed_exhausted` into `claimx_attachments_failed` when
`CLAIMX_DELTA_FAILED_TABLE` is set — otherwise they are logged at WARNING and counted
(`vpipe_claimx_failures_unrecorded_total`), never silently skipped. Rows of one media id in a
batch are coalesced (later non-null values win) by the merge itself (`partial_rows`). Times
come from the result (`created_at`: when it was produced), so a replayed result changes
nothing. Batches of 500 results or 5 s; both tables share one Delta worker process; exactly once
per table and partition, attachments first (`vpipe_core.delta.multi_table`). Invalid results
are dead with the field named.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import attrs
import orjson
from prometheus_client import Counter

from vpipe_claimx.settings import ClaimxSettings
from vpipe_claimx.tables import CLAIMX_ATTACHMENTS, CLAIMX_ATTACHMENTS_FAILED
from vpipe_core.context import WorkerContext
from vpipe_core.delta.multi_table import MultiTableWriter, RecordRows, TableRow
from vpipe_core.delta.writers import TableTarget, WritesDisabled, table_writer
from vpipe_core.logs.redact import redact, truncate
from vpipe_core.ops.metrics import REGISTRY
from vpipe_core.outcome import Dead
from vpipe_core.record import Record
from vpipe_core.transfer.presigned import stored_url

BATCH_SIZE = 500
BATCH_MAX_WAIT_S = 5.0
ATTACHMENTS = CLAIMX_ATTACHMENTS.name
FAILED = CLAIMX_ATTACHMENTS_FAILED.name
REQUIRED_TEXT = ("media_id", "project_id", "source_event_id")
OPTIONAL_TEXT = ("download_url", "blob_path", "file_type", "file_name", "error_category")

log = logging.getLogger("vpipe.claimx.result_processor")

unrecorded_failures = Counter(
    "vpipe_claimx_failures_unrecorded_total",
    "Failure results not written to a table because CLAIMX_DELTA_FAILED_TABLE is unset",
    ["status"],
    registry=REGISTRY,
)


class InvalidResult(ValueError):
    """Not a `claimx.downloads.results` message; the text names the field."""


class Status(enum.StrEnum):
    COMPLETED = "completed"
    FAILED_PERMANENT = "failed_permanent"
    FAILED_EXHAUSTED = "failed_exhausted"


@attrs.frozen
class Result:
    """A validated §6 result: texts trimmed (None when blank), times in UTC."""

    text: Mapping[str, str | None]  # REQUIRED_TEXT (never None) and OPTIONAL_TEXT
    status: Status
    bytes_uploaded: int
    http_status: int | None
    retry_count: int
    url_refresh_attempted: bool
    error_message: str | None
    created_at: datetime


def parse_result(value: bytes | None) -> Result:
    try:
        message = orjson.loads(value or b"")
    except orjson.JSONDecodeError as exc:
        raise InvalidResult(f"not JSON: {exc}") from None
    if not isinstance(message, dict):
        raise InvalidResult(f"expected a JSON object, got {type(message).__name__}")
    text = {field: _text(message, field) for field in (*REQUIRED_TEXT, *OPTIONAL_TEXT)}
    missing = [field for field in REQUIRED_TEXT if text[field] is None]
    if missing:
        raise InvalidResult(f"{missing[0]}: required, missing or empty")
    return Result(
        text=text,
        status=_status(message.get("status")),
        bytes_uploaded=_count(message, "bytes_uploaded"),
        http_status=_integer(message, "http_status"),
        retry_count=_count(message, "retry_count"),
        url_refresh_attempted=_flag(message, "url_refresh_attempted"),
        error_message=_error_message(message.get("error_message")),
        created_at=_time(message.get("created_at")),
    )


def _text(message: Mapping[str, Any], field: str) -> str | None:
    value = message.get(field)
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)  # ids arrive as JSON numbers too (§1)
    if not isinstance(value, str):
        raise InvalidResult(f"{field}: expected a string, got {value!r}")
    return value.strip() or None


def _status(value: Any) -> Status:
    try:
        return Status(value)
    except ValueError:
        allowed = ", ".join(status.value for status in Status)
        raise InvalidResult(f"status: expected one of {allowed}, got {value!r}") from None


def _integer(message: Mapping[str, Any], field: str) -> int | None:
    value = message.get(field)
    if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
        raise InvalidResult(f"{field}: expected an integer or null, got {value!r}")
    return value


def _count(message: Mapping[str, Any], field: str) -> int:
    value = _integer(message, field)
    if value is not None and value < 0:
        raise InvalidResult(f"{field}: must be >= 0, got {value}")
    return value or 0


def _flag(message: Mapping[str, Any], field: str) -> bool:
    value = message.get(field, False)
    if not isinstance(value, bool):
        raise InvalidResult(f"{field}: expected true or false, got {value!r}")
    return value


def _error_message(value: Any) -> str | None:
    """Producers redact and truncate already; done again so the table never holds more."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidResult(f"error_message: expected a string or null, got {value!r}")
    return truncate(redact(value)) if value.strip() else None


def _time(value: Any) -> datetime:
    if not isinstance(value, str):
        raise InvalidResult(f"created_at: required ISO time, got {value!r}")
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise InvalidResult(f"created_at: not an ISO time: {value!r}") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def attachment_row(result: Result) -> dict[str, Any]:
    text = result.text
    return {
        **{field: text[field] for field in ("media_id", "project_id", "source_event_id")},
        **{field: text[field] for field in ("file_name", "file_type", "blob_path")},
        "bytes": result.bytes_uploaded,
        "created_at": result.created_at,
        "updated_at": result.created_at,
    }


def failed_row(result: Result) -> dict[str, Any]:
    text = result.text
    return {
        **{field: text[field] for field in ("media_id", "project_id", "source_event_id")},
        "download_url": stored_url(text["download_url"]),
        "status": str(result.status),
        "error_category": text["error_category"],
        "error_message": result.error_message,
        "http_status": result.http_status,
        "retry_count": result.retry_count,
        "url_refresh_attempted": result.url_refresh_attempted,
        "failed_at": result.created_at,
        "created_at": result.created_at,
    }


class ResultRows:
    """One partition's result records → rows (`multi_table.RowsFor`)."""

    def __init__(self, record_failures: bool) -> None:
        self._record_failures = record_failures

    def __call__(self, records: Sequence[Record]) -> list[RecordRows]:
        return [self._row(record) for record in records]

    def _row(self, record: Record) -> RecordRows:
        try:
            result = parse_result(record.value)
        except InvalidResult as exc:
            return Dead(f"invalid result message: {exc}")
        if result.status is Status.COMPLETED:
            return TableRow(ATTACHMENTS, attachment_row(result))
        if self._record_failures:
            return TableRow(FAILED, failed_row(result))
        _warn_unrecorded(result)
        return None


def _warn_unrecorded(result: Result) -> None:
    unrecorded_failures.labels(str(result.status)).inc()
    log.warning(
        "failure result not recorded: CLAIMX_DELTA_FAILED_TABLE is not set",
        extra={
            "trace_id": result.text["source_event_id"],
            "media_id": result.text["media_id"],
            "status": str(result.status),
            "error_category": result.text["error_category"],
            "error": result.error_message,
        },
    )


def build(ctx: WorkerContext) -> MultiTableWriter | WritesDisabled:
    settings = ctx.settings_for(ClaimxSettings)
    failed_table = settings.delta_failed_table
    tables = [
        TableTarget(
            CLAIMX_ATTACHMENTS, settings.delta_inventory_table, "CLAIMX_DELTA_INVENTORY_TABLE"
        )
    ]
    if failed_table:
        tables.append(
            TableTarget(CLAIMX_ATTACHMENTS_FAILED, failed_table, "CLAIMX_DELTA_FAILED_TABLE")
        )
    else:
        log.warning(
            "CLAIMX_DELTA_FAILED_TABLE is not set: failure results are logged and counted only"
        )
    rows = ResultRows(record_failures=bool(failed_table))
    return table_writer(ctx, tables, rows, BATCH_SIZE, BATCH_MAX_WAIT_S)
