"""The one place trace context moves from a record to the records made from it: the loop's
router calls `parent_of` once per consumed record and `carried` per output, the source loop
calls `started` per published event. Handlers never copy the header themselves. With
OpenTelemetry spans on, `otel.py` gives the outputs their span's `traceparent` instead."""

from __future__ import annotations

from collections.abc import Sequence

from vpipe_core.lineage.traceparent import TRACEPARENT, find, new_traceparent
from vpipe_core.outcome import Output
from vpipe_core.record import Record


def parent_of(record: Record) -> bytes | None:
    """The record's `traceparent`, read without building a header list when it has none."""
    message = record.message
    headers = message.headers() if message is not None else record.given_headers
    return find(headers) if headers else None


def carried(parent: bytes, output: Output) -> Output:
    """`output` with the parent's `traceparent`, unless it sets one itself (a retry tier record,
    a dead letter). A new Output: a handler may reuse one object for many records."""
    headers = output.headers
    if headers and find(headers) is not None:
        return output
    return Output(
        output.topic,
        output.value,
        output.key,
        [*headers, (TRACEPARENT, parent)] if headers else [(TRACEPARENT, parent)],
        output.partition,
    )


def carried_all(record: Record, outputs: Sequence[Output]) -> Sequence[Output]:
    parent = parent_of(record)
    if parent is None:
        return outputs
    return [carried(parent, output) for output in outputs]


def started(output: Output) -> Output:
    """A polled event's record: a new trace begins here (kept if the source set one)."""
    return carried(new_traceparent(), output)
