"""The ClaimX raw event (claimx.md §4), its deterministic id (§5) and the enrichment task (§6).

The one mapper for every consumer of `claimx.events.raw`: the poller builds messages with
`raw_message`, the ingester and the delta writer read them (or bare source rows) with `parse_raw`,
so every worker agrees on ids and times.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from types import MappingProxyType
from typing import Any, NamedTuple

import orjson

from vpipe_core.values.aliases import first_present
from vpipe_core.values.json_object import json_object

ALIASES: dict[str, tuple[str, ...]] = {
    "event_id": ("event_id", "eventId"),
    "event_type": ("event_type", "eventType"),
    "project_id": ("project_id", "projectId"),
    "media_id": ("media_id", "mediaId"),
    "task_assignment_id": ("task_assignment_id", "taskAssignmentId"),
    "video_collaboration_id": ("video_collaboration_id", "videoCollaborationId"),
    "master_file_name": ("master_file_name", "masterFileName"),
}
INGESTION_TIME_ALIASES = ("ingestion_time", "IngestionTime", "$IngestionTime", "ingestedAt")
NUMERIC_IDS = ("project_id", "media_id", "task_assignment_id", "video_collaboration_id")
# Each field of a poller message, with the names a source row may give the same value, in the
# order of `ClaimxEvent`'s fields.
FIELD_NAMES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("event_id", ALIASES["event_id"]),
    ("event_type", ALIASES["event_type"]),
    ("project_id", ALIASES["project_id"]),
    ("ingested_at", INGESTION_TIME_ALIASES),
    ("media_id", ALIASES["media_id"]),
    ("task_assignment_id", ALIASES["task_assignment_id"]),
    ("video_collaboration_id", ALIASES["video_collaboration_id"]),
    ("master_file_name", ALIASES["master_file_name"]),
)
_TIME = re.compile(
    r"(?P<whole>\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2})?)"
    r"(?:\.(?P<fraction>\d+))?(?P<zone>[Zz]|[+-]\d{2}:?\d{2})?"
)
_CANONICAL_TIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{7}Z")


class InvalidEvent(ValueError):
    """The value is not a usable ClaimX event or task; the message names the field and why."""


class ClaimxEvent(NamedTuple):
    """Immutable; a named tuple rather than a frozen attrs class, which sets each field through
    object.__setattr__: the ingester builds one per event."""

    event_id: str
    event_type: str | None
    project_id: str | None
    ingested_at: str | None  # canonical 7-digit UTC ingestion time
    media_id: str | None = None
    task_assignment_id: str | None = None
    video_collaboration_id: str | None = None
    master_file_name: str | None = None
    raw_data: Mapping[str, Any] = MappingProxyType({})


# -- values ------------------------------------------------------------------------------------


def coerce_id(value: Any, field: str) -> str | None:
    """§1: ids are strings; JSON numbers become their text (integral floats lose `.0`)."""
    if isinstance(value, str):  # the common case first
        return value.strip() or None
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise InvalidEvent(f"{field}: expected a string or a number, got {value!r}")
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip() or None


def canonical_time(value: Any) -> str:
    """§5: `YYYY-MM-DDTHH:MM:SS.fffffffZ` in UTC (7 digits, right-padded; naive = UTC; other
    offsets converted; digits past the seventh truncated). InvalidEvent if not a time."""
    if isinstance(value, datetime):
        utc = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        return utc.strftime("%Y-%m-%dT%H:%M:%S.%f") + "0Z"
    if isinstance(value, str) and _CANONICAL_TIME.fullmatch(value):  # as every message has it
        _check_date_and_time(value)
        return value
    match = _TIME.fullmatch(value.strip()) if isinstance(value, str) else None
    if match is None:
        raise InvalidEvent(f"ingestion time: expected an ISO-8601 time, got {value!r}")
    zone = match["zone"] or "+00:00"
    try:
        moment = datetime.fromisoformat(match["whole"].replace(" ", "T") + _offset(zone))
        whole = moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")
    except (ValueError, OverflowError) as exc:  # overflow: past year 9999 once in UTC
        raise InvalidEvent(f"ingestion time: {value!r} is not a valid time ({exc})") from None
    return f"{whole}.{(match['fraction'] or '')[:7].ljust(7, '0')}Z"


def _check_date_and_time(canonical: str) -> None:
    try:
        datetime.fromisoformat(canonical[:19])
    except ValueError as exc:
        raise InvalidEvent(f"ingestion time: {canonical!r} is not a valid time ({exc})") from None


def _offset(zone: str) -> str:
    if zone in ("Z", "z"):
        return "+00:00"
    return zone if ":" in zone else f"{zone[:3]}:{zone[3:]}"


def time_from_epoch_ms(milliseconds: int) -> str:
    """A Kafka record timestamp as a canonical ingestion time, exactly."""
    moment = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=milliseconds)
    return canonical_time(moment)


def ingested_datetime(canonical: str) -> datetime:
    """A canonical ingestion time as a datetime, truncated to microseconds (Clarifications)."""
    return datetime.strptime(canonical[:26], "%Y-%m-%dT%H:%M:%S.%f").replace(tzinfo=UTC)


def derive_event_id(
    project_id: str | None,
    event_type: str | None,
    ingested_at: str | None,
    media_id: str | None = None,
    task_assignment_id: str | None = None,
    video_collaboration_id: str | None = None,
    master_file_name: str | None = None,
) -> str:
    """§5: sha256 of the `|`-joined parts; the optional ones only when present."""
    parts = [project_id or "", event_type or ""]
    if ingested_at is not None:
        parts.append(ingested_at)
    tagged = (
        ("media", media_id),
        ("task", task_assignment_id),
        ("video", video_collaboration_id),
        ("file", master_file_name),
    )
    parts.extend(f"{tag}:{value}" for tag, value in tagged if value is not None)
    return hashlib.sha256("|".join(parts).encode("utf-8")).hexdigest()


# -- claimx.events.raw ---------------------------------------------------------------------------


def _text(value: Any, field: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidEvent(f"{field}: expected a string, got {value!r}")
    return value.strip() or None


def _ingestion_time(value: Any, record_timestamp_ms: int | None) -> str | None:
    if value is not None:
        return canonical_time(value)
    if record_timestamp_ms is not None:
        return time_from_epoch_ms(record_timestamp_ms)
    return None


def event_from_row(row: Mapping[str, Any], record_timestamp_ms: int | None = None) -> ClaimxEvent:
    """A source row (camelCase or snake_case) as an event; InvalidEvent on a wrong type."""
    values = [first_present(row, names) for _, names in FIELD_NAMES]
    return _event(values, record_timestamp_ms, row)


def _event(
    values: list[Any], record_timestamp_ms: int | None, raw_data: Mapping[str, Any]
) -> ClaimxEvent:
    """The event of `values` (one raw value per field of FIELD_NAMES), each checked."""
    event_id, event_type, project_id, ingestion, media_id, task_id, video_id, file_name = values
    project_id = coerce_id(project_id, "project_id")
    media_id = coerce_id(media_id, "media_id")
    task_id = coerce_id(task_id, "task_assignment_id")
    video_id = coerce_id(video_id, "video_collaboration_id")
    event_type = _text(event_type, "event_type")
    file_name = _text(file_name, "master_file_name")
    ingested_at = _ingestion_time(ingestion, record_timestamp_ms)
    event_id = coerce_id(event_id, "event_id") or derive_event_id(
        project_id, event_type, ingested_at, media_id, task_id, video_id, file_name
    )
    return ClaimxEvent(  # positional: keywords cost a named tuple twice as much
        event_id,
        event_type,
        project_id,
        ingested_at,
        media_id,
        task_id,
        video_id,
        file_name,
        raw_data,
    )


def event_fields(event: ClaimxEvent) -> dict[str, Any]:
    """The event's own fields, as every ClaimX message carries them (§4, §6)."""
    return {
        "event_id": event.event_id,
        "event_type": event.event_type,
        "project_id": event.project_id,
        "ingested_at": event.ingested_at,
        "media_id": event.media_id,
        "task_assignment_id": event.task_assignment_id,
        "video_collaboration_id": event.video_collaboration_id,
        "master_file_name": event.master_file_name,
    }


def message_of(event: ClaimxEvent) -> dict[str, Any]:
    """The `claimx.events.raw` value (§4). `raw_data` as a plain dict, which is what orjson
    serializes: an event built without one has an empty read-only mapping."""
    raw = event.raw_data
    return {**event_fields(event), "raw_data": raw if type(raw) is dict else dict(raw)}


def raw_message(row: Mapping[str, Any], record_timestamp_ms: int | None = None) -> dict[str, Any]:
    """The poller's message for a source row. Never raises: a row whose fields cannot be read is
    still published (consumers dead-letter it with the reason), with an id over its bytes."""
    try:
        return message_of(event_from_row(row, record_timestamp_ms))
    except InvalidEvent:
        digest = hashlib.sha256(orjson.dumps(row, option=orjson.OPT_SORT_KEYS)).hexdigest()
        return {"event_id": digest, "event_type": None, "project_id": None, "raw_data": row}


def _load_object(value: bytes | str | Mapping[str, Any] | None, what: str) -> Mapping[str, Any]:
    if isinstance(value, Mapping):
        return value
    return json_object(value, InvalidEvent, what)


def parse_raw(
    value: bytes | str | Mapping[str, Any] | None, record_timestamp_ms: int | None = None
) -> ClaimxEvent:
    """A `claimx.events.raw` value: a poller message or a bare source row. Required fields are
    not enforced here (the delta writer records incomplete events): see `check_enrichable`."""
    row = _load_object(value, "raw event")
    source = row.get("raw_data")
    if isinstance(source, dict):
        return _event(_message_values(row, source), record_timestamp_ms, source)
    return event_from_row(row, record_timestamp_ms)


def _message_values(message: Mapping[str, Any], source: Mapping[str, Any]) -> list[Any]:
    """A poller message's own field wins where it has a value; else the source row's names for
    it are tried in turn. One pass, with no merged copy of the row: it runs once per event."""
    values = []
    for field, names in FIELD_NAMES:
        value = message.get(field)
        if value is None or (isinstance(value, str) and not value.strip()):
            value = first_present(source, names)
        values.append(value)
    return values


def check_enrichable(event: ClaimxEvent) -> None:
    """§6/§1: what the ingester and enricher require; InvalidEvent (permanent) otherwise."""
    if event.project_id is None:
        raise InvalidEvent("project_id: required, missing or empty")
    if event.event_type is None:
        raise InvalidEvent("event_type: required, missing or empty")
    if event.ingested_at is None:
        raise InvalidEvent("ingested_at: required, the row has no ingestion time")
    for field in NUMERIC_IDS:
        value = getattr(event, field)
        if value is not None and not (value.isascii() and value.isdecimal()):  # [0-9]+
            raise InvalidEvent(f"{field}: expected digits only, got {value!r}")


# -- claimx.enrichment.pending ------------------------------------------------------------------


def enrichment_task(event: ClaimxEvent, created_at: str) -> dict[str, Any]:
    """The §6 enrichment task (`raw_data` is not forwarded); `created_at` as `iso_utc` writes
    it."""
    task = event_fields(event)  # a fresh dict, extended in place: one copy less per event
    task["created_at"] = created_at
    task["retry_count"] = 0
    task["metadata"] = {}
    return task


def parse_task(value: bytes | str | Mapping[str, Any] | None) -> dict[str, Any]:
    """A `claimx.enrichment.pending` value, validated (§1 id rules); InvalidEvent otherwise."""
    task = dict(_load_object(value, "enrichment task"))
    event_id = coerce_id(task.get("event_id"), "event_id")
    if event_id is None:
        raise InvalidEvent("event_id: required, missing or empty")
    event = ClaimxEvent(
        event_id=event_id,
        event_type=_text(task.get("event_type"), "event_type"),
        project_id=coerce_id(task.get("project_id"), "project_id"),
        ingested_at=_task_time(task.get("ingested_at")),
        media_id=coerce_id(task.get("media_id"), "media_id"),
        task_assignment_id=coerce_id(task.get("task_assignment_id"), "task_assignment_id"),
        video_collaboration_id=coerce_id(
            task.get("video_collaboration_id"), "video_collaboration_id"
        ),
        master_file_name=_text(task.get("master_file_name"), "master_file_name"),
    )
    check_enrichable(event)
    metadata = task.get("metadata")
    return {
        **task,
        **event_fields(event),
        "metadata": metadata if isinstance(metadata, dict) else {},
    }


def _task_time(value: Any) -> str | None:
    return None if value is None else canonical_time(value)
