"""Tier and DLQ records: the original key and bytes plus the `vpipe_` envelope headers."""

from __future__ import annotations

from datetime import datetime, timedelta

from vpipe_core.lineage.traceparent import with_child
from vpipe_core.logs.redact import redact, truncate
from vpipe_core.outcome import Category, Headers, Output
from vpipe_core.record import ATTEMPT_HEADER, Record
from vpipe_core.retry.retry_after import MAX_RETRY_AFTER_S
from vpipe_core.retry.topics import dlq_topic, tier_topic
from vpipe_core.values.timestamps import iso_utc

TARGET = "vpipe_target_topic"
ORIGIN_TOPIC = "vpipe_origin_topic"
ORIGIN_PARTITION = "vpipe_origin_partition"
ORIGIN_OFFSET = "vpipe_origin_offset"
CATEGORY = "vpipe_error_category"
ERROR = "vpipe_error"
WORKER_ID = "vpipe_worker_id"
FIRST_FAILED_AT = "vpipe_first_failed_at"
DUE_AT = "vpipe_due_at"
DEAD_REASON = "vpipe_dead_reason"
REDELIVERED_AT = "vpipe_redelivered_at"
REPLAY_COUNT = "vpipe_replay_count"
REPLAY = "vpipe_replay"

# Headers that describe one failure; replaced on every new failure, stripped on replay.
ENVELOPE_HEADERS = frozenset(
    {
        TARGET,
        ORIGIN_TOPIC,
        ORIGIN_PARTITION,
        ORIGIN_OFFSET,
        ATTEMPT_HEADER,
        CATEGORY,
        ERROR,
        WORKER_ID,
        FIRST_FAILED_AT,
        DUE_AT,
        DEAD_REASON,
        REDELIVERED_AT,
    }
)


def without_envelope(headers: Headers) -> Headers:
    return [(key, value) for key, value in headers if key not in ENVELOPE_HEADERS]


def _failure_headers(
    record: Record, *, category: Category, error: str, worker_id: str, now: datetime
) -> Headers:
    first_failed = record.header(FIRST_FAILED_AT) or iso_utc(now)
    return [
        (ORIGIN_TOPIC, record.topic.encode()),
        (ORIGIN_PARTITION, str(record.partition).encode()),
        (ORIGIN_OFFSET, str(record.offset).encode()),
        (ATTEMPT_HEADER, str(record.attempt + 1).encode()),
        (CATEGORY, category.value.encode()),
        (ERROR, truncate(redact(error)).encode()),
        (WORKER_ID, worker_id.encode()),
        (FIRST_FAILED_AT, first_failed.encode()),
    ]


def due_at(written: datetime, delay_s: float, not_before: datetime | None = None) -> datetime:
    """When a tier record written at `written` is due: after the tier's delay, or at
    `not_before` (a Retry-After) when later, but never past the delay plus MAX_RETRY_AFTER_S."""
    earliest = written + timedelta(seconds=delay_s)
    latest = earliest + timedelta(seconds=MAX_RETRY_AFTER_S)
    return min(max(earliest, not_before or earliest), latest)


def tier_output(
    record: Record,
    *,
    domain: str,
    delay_s: int,
    category: Category,
    error: str,
    worker_id: str,
    now: datetime,
    not_before: datetime | None = None,
) -> Output:
    due = due_at(now, delay_s, not_before)
    headers = with_child(without_envelope(record.headers))
    headers += _failure_headers(
        record, category=category, error=error, worker_id=worker_id, now=now
    )
    headers += [(TARGET, record.topic.encode()), (DUE_AT, iso_utc(due).encode())]
    return Output(tier_topic(domain, delay_s), record.value, record.key, headers)


def dlq_output(
    record: Record,
    *,
    domain: str,
    category: Category,
    error: str,
    reason: str,
    worker_id: str,
    now: datetime,
) -> Output:
    last_due = record.header(DUE_AT)
    headers = with_child(without_envelope(record.headers))
    headers += _failure_headers(
        record, category=category, error=error, worker_id=worker_id, now=now
    )
    headers.append((DEAD_REASON, reason.encode()))
    if last_due:
        headers.append((DUE_AT, last_due.encode()))
    return Output(dlq_topic(domain), record.value, record.key, headers)
