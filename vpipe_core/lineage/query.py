"""What `vpipe trace` looks for: one id, and the W3C trace ids and domain ids found with it."""

from __future__ import annotations

import enum
from typing import Any

import attrs
import orjson

from vpipe_core.lineage.carry import parent_of
from vpipe_core.lineage.traceparent import trace_id_of
from vpipe_core.record import Record

# Fields of a record's JSON value (and its headers) that name the event it belongs to.
EVENT_FIELDS = ("event_id", "trace_id", "source_event_id")


class By(enum.StrEnum):
    TRACE_ID = "trace_id"
    EVENT_ID = "event_id"
    MEDIA_ID = "media_id"
    PROJECT_ID = "project_id"


@attrs.define
class Query:
    """Grows while the scan finds records: a record matched by its ids adds its W3C trace id,
    and a record of a known trace adds its event ids (rows and log lines are found by them)."""

    by: By
    value: str
    trace_ids: set[str] = attrs.field(factory=set)
    event_ids: set[str] = attrs.field(factory=set)

    def __attrs_post_init__(self) -> None:
        if self.by is By.TRACE_ID:
            self.trace_ids.add(self.value.lower())
        elif self.by is By.EVENT_ID:
            self.event_ids.add(self.value)

    def matches(self, record: Record) -> bool:
        fields = record_fields(record)
        trace_id = trace_id_of(parent_of(record))
        hit = (trace_id is not None and trace_id in self.trace_ids) or self._names_it(fields)
        if hit:
            if trace_id is not None:
                self.trace_ids.add(trace_id)
            self.event_ids.update(str(fields[f]) for f in EVENT_FIELDS if fields.get(f))
        return hit

    def _names_it(self, fields: dict[str, Any]) -> bool:
        if self.by is By.EVENT_ID:
            return any(str(fields.get(f)) in self.event_ids for f in EVENT_FIELDS if fields.get(f))
        if self.by is By.TRACE_ID:
            return False
        return str(fields.get(self.by.value)) == self.value

    def matches_row(self, row: dict[str, Any]) -> bool:
        if self.by in (By.MEDIA_ID, By.PROJECT_ID) and str(row.get(self.by.value)) == self.value:
            return True
        return any(str(row.get(f)) in self.event_ids for f in EVENT_FIELDS if row.get(f))

    def row_keys(self) -> dict[str, set[str]]:
        """The values each column may hold in a row `matches_row` accepts (a table is read
        filtered by them)."""
        keys = {field: set(self.event_ids) for field in EVENT_FIELDS}
        if self.by in (By.MEDIA_ID, By.PROJECT_ID):
            keys.setdefault(self.by.value, set()).add(self.value)
        return {column: values for column, values in keys.items() if values}

    def matches_log(self, line: dict[str, Any]) -> bool:
        if line.get("w3c_trace_id") in self.trace_ids:
            return True
        return bool(line.get("trace_id")) and str(line.get("trace_id")) in self.event_ids


def record_fields(record: Record) -> dict[str, Any]:
    """The record's JSON object fields, then its headers (decoded), then its key as `event_id`
    when nothing else names the event."""
    fields: dict[str, Any] = {}
    try:
        value = orjson.loads(record.value) if record.value else None
    except orjson.JSONDecodeError:
        value = None
    if isinstance(value, dict):
        fields.update(value)
    for key, raw in record.headers:
        if raw is not None and key not in fields:
            fields[key] = raw.decode("utf-8", "replace")
    if record.key and not any(fields.get(f) for f in EVENT_FIELDS):
        fields["event_id"] = record.key.decode("utf-8", "replace")
    return fields
