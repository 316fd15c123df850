"""The XACT raw event (xact.md §3) and the values derived from it (§4).

Pure functions over plain data: the ingester, enricher and delta writer all read events through
here, so every worker agrees on ids, names and paths.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any, NamedTuple

import orjson

from vpipe_core.values.aliases import first_present
from vpipe_core.values.ids import uuid5_text
from vpipe_core.values.json_object import json_object
from vpipe_core.values.timestamps import iso_utc_of, parse_iso_utc

NS_EVENT = uuid.uuid5(uuid.NAMESPACE_URL, "http://nsmkdvPipe/event_id")
NS_MEDIA = uuid.uuid5(uuid.NAMESPACE_URL, "http://xactPipeline/media_id")
_NS_EVENT_BYTES, _NS_MEDIA_BYTES = NS_EVENT.bytes, NS_MEDIA.bytes


class InvalidEvent(ValueError):
    """The raw bytes are not a valid XACT event; the message says which field and why."""


class XactEvent(NamedTuple):
    """Immutable, and a named tuple rather than a frozen attrs class: the ingester builds one per
    event, and a frozen class's __init__ sets each field through object.__setattr__ (3.5 times
    the cost). Derived values are plain properties, each read once or twice per event."""

    type: str
    version: int
    event_time: datetime  # utcDateTime, UTC
    trace_id: str
    data: Mapping[str, Any]
    ingestion_time: str | None
    source: Mapping[str, Any]  # the row as received (for raw_json)

    @property
    def status_subtype(self) -> str:
        """§4.1: the text after the last '.' of `type`."""
        return self.type.rsplit(".", 1)[-1]

    @property
    def original_timestamp(self) -> str:
        """`event_time` as `iso_utc` writes it."""
        return iso_utc_of(self.source.get("utcDateTime"), self.event_time)

    @property
    def event_id(self) -> str:
        return event_id(self.trace_id)

    @property
    def assignment_id(self) -> str | None:
        return coerce_id(self.data.get("assignmentId"))

    @property
    def estimate_version(self) -> str | None:
        return coerce_id(self.data.get("estimateVersion"))

    @property
    def attachments(self) -> list[str]:
        return attachment_urls(self.data.get("attachments"))


def event_id(trace_id: str) -> str:
    """§4.4."""
    return uuid5_text(_NS_EVENT_BYTES, trace_id)


def media_id(trace_id: str, url: str) -> str:
    """§4.5: over the full URL, query included."""
    return uuid5_text(_NS_MEDIA_BYTES, f"{trace_id}:{url}")


TRACE_ID_ALIASES = ("traceId", "trace_id")
MAX_VERSION_DIGITS = 18  # fits the table's 64-bit column


def coerce_id(value: Any) -> str | None:
    """§1 ids: strings trimmed, JSON numbers as text (integral floats lose `.0`); empty → None."""
    if type(value) is str:  # the common case first
        return value.strip() or None
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = str(value).strip() if isinstance(value, (str, int, float)) else None
    return text or None


def parse_time(value: Any, field: str) -> datetime:
    """§1 timestamps read: Z, +00:00, any offset, or naive (UTC); converted to UTC."""
    if not isinstance(value, str) or not value.strip():
        raise InvalidEvent(f"{field}: expected an ISO-8601 time, got {value!r}")
    try:
        return parse_iso_utc(value)
    except ValueError as exc:
        raise InvalidEvent(f"{field}: not an ISO-8601 time: {value[:64]!r} ({exc})") from None


def attachment_urls(raw: Any) -> list[str]:
    """§4.2: non-empty strings, trimmed, in order, without repeats."""
    if not isinstance(raw, list):
        return []
    seen: dict[str, None] = {}
    for item in raw:
        if isinstance(item, str) and item.strip():
            seen.setdefault(item.strip(), None)
    return list(seen)


def parse_event(raw: bytes | None) -> XactEvent:
    """Validate a raw event (§3); raise InvalidEvent naming the field on anything wrong."""
    row = json_object(raw, InvalidEvent)
    ingestion_time = row.get("ingestion_time")
    return XactEvent(  # positional: the fields' order
        _required_text(row, "type"),
        _version(row.get("version")),
        parse_time(row.get("utcDateTime"), "utcDateTime"),
        _trace_id(row),
        _data(row.get("data")),
        ingestion_time if isinstance(ingestion_time, str) else None,
        row,
    )


def _required_text(row: Mapping[str, Any], field: str) -> str:
    value = row.get(field)
    if not isinstance(value, str) or not value.strip():
        raise InvalidEvent(f"{field}: required string, got {value!r}")
    return value.strip()


def trace_id_of(row: Mapping[str, Any]) -> str | None:
    """The row's trace id: `traceId`, else its alias `trace_id` (§3), whichever has a value."""
    return coerce_id(first_present(row, TRACE_ID_ALIASES))


def _trace_id(row: Mapping[str, Any]) -> str:
    value = trace_id_of(row)
    if value is None:
        raise InvalidEvent("traceId: required, missing or empty (also under its alias trace_id)")
    return value


def _version(value: Any) -> int:
    if value is None:
        return 1
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    text = value.strip() if isinstance(value, str) else ""
    if text.isascii() and text.isdigit() and len(text) <= MAX_VERSION_DIGITS:
        return int(text)
    shown = value[:32] if isinstance(value, str) else value
    raise InvalidEvent(f"version: expected an integer or ASCII digit string, got {shown!r}")


def _data(value: Any) -> Mapping[str, Any]:
    if isinstance(value, str):
        try:
            value = orjson.loads(value)
        except orjson.JSONDecodeError as exc:
            raise InvalidEvent(f"data: a string that is not JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise InvalidEvent(f"data: expected an object, got {type(value).__name__}")
    return value
