"""W3C Trace Context (`traceparent`): `00-<32 hex trace id>-<16 hex span id>-<flags>`.

A poller gives each event a new trace id; every record derived from it carries the same trace
id. A retry tier record, a dead letter and a DLQ replay keep the trace id with a new span id,
so the hops of one event stay one trace."""

from __future__ import annotations

import os

from vpipe_core.outcome import Headers

TRACEPARENT = "traceparent"
VERSION = "00"
SAMPLED = "01"
_TRACE_HEX = 32
_SPAN_HEX = 16


def new_traceparent() -> bytes:
    """A new trace: random trace and span ids, sampled."""
    return f"{VERSION}-{os.urandom(16).hex()}-{os.urandom(8).hex()}-{SAMPLED}".encode()


def child_of(traceparent: bytes) -> bytes:
    """The same trace with a new span id (a retry, a dead letter, a replay)."""
    trace_id = trace_id_of(traceparent)
    if trace_id is None:
        return new_traceparent()
    return f"{VERSION}-{trace_id}-{os.urandom(8).hex()}-{SAMPLED}".encode()


def trace_id_of(traceparent: bytes | str | None) -> str | None:
    """The trace id of a well-formed `traceparent`, else None."""
    if traceparent is None:
        return None
    text = traceparent.decode("ascii", "replace") if isinstance(traceparent, bytes) else traceparent
    parts = text.strip().split("-")
    if len(parts) < 4 or len(parts[1]) != _TRACE_HEX or len(parts[2]) != _SPAN_HEX:
        return None
    trace_id = parts[1].lower()
    if trace_id == "0" * _TRACE_HEX or any(c not in "0123456789abcdef" for c in trace_id):
        return None
    return trace_id


def span_id_of(traceparent: bytes | str | None) -> str | None:
    if trace_id_of(traceparent) is None:
        return None
    text = traceparent.decode("ascii") if isinstance(traceparent, bytes) else str(traceparent)
    return text.strip().split("-")[2].lower()


def find(headers: Headers | None) -> bytes | None:
    """The last `traceparent` value in `headers`, or None."""
    found = None
    for key, value in headers or ():
        if key == TRACEPARENT:
            found = value
    return found


def with_child(headers: Headers) -> Headers:
    """`headers` with its `traceparent` replaced by a child span (a new trace when it had
    none): for a record that goes round again (a retry tier, the DLQ, a replay)."""
    parent = find(headers)
    kept = [(key, value) for key, value in headers if key != TRACEPARENT]
    kept.append((TRACEPARENT, child_of(parent) if parent else new_traceparent()))
    return kept
