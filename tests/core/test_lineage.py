"""Trace context: a poller's event starts a trace; derived records, retries, dead letters and
replays keep its trace id (DEPLOYMENT.md, "Follow one event")."""

from __future__ import annotations

from datetime import UTC, datetime

from vpipe_core.lineage.carry import carried_all, started
from vpipe_core.lineage.traceparent import TRACEPARENT, find, span_id_of, trace_id_of
from vpipe_core.outcome import Category, Output
from vpipe_core.record import Record
from vpipe_core.retry.dlq.actions import replay_headers
from vpipe_core.retry.dlq.reader import DlqEntry
from vpipe_core.retry.envelope import dlq_output, tier_output

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def traced_record() -> tuple[Record, bytes]:
    polled = started(Output("d.events.raw", b"{}", b"e-1"))
    assert polled.headers is not None
    parent = find(polled.headers)
    assert parent is not None and trace_id_of(parent) is not None
    return Record("d.events.raw", 0, 7, b"e-1", b"{}", polled.headers), parent


def test_outputs_carry_the_parents_traceparent_and_keep_their_own_headers() -> None:
    record, parent = traced_record()
    shared = Output("d.tasks", b"{}", b"e-1", [("trace_id", b"e-1")])
    first, second = carried_all(record, [shared, Output("d.rows", b"{}")])
    assert first.headers == [("trace_id", b"e-1"), (TRACEPARENT, parent)]
    assert second.headers == [(TRACEPARENT, parent)]
    assert shared.headers == [("trace_id", b"e-1")]  # a reused output is not changed


def test_an_untraced_record_passes_its_outputs_through_as_they_are() -> None:
    outputs = [Output("d.tasks", b"{}")]
    assert carried_all(Record("t", 0, 0, None, b"{}"), outputs) is outputs


def test_retries_dead_letters_and_replays_keep_the_trace_id_with_a_new_span() -> None:
    record, parent = traced_record()
    tier = tier_output(
        record,
        domain="d",
        delay_s=300,
        category=Category.TRANSIENT,
        error="boom",
        worker_id="w-1",
        now=NOW,
    )
    assert tier.headers is not None
    retried = Record(tier.topic, 0, 1, tier.key, tier.value, tier.headers)
    dead = dlq_output(
        retried,
        domain="d",
        category=Category.PERMANENT,
        error="bad",
        reason="exhausted",
        worker_id="w-1",
        now=NOW,
    )
    assert dead.headers is not None
    entry = DlqEntry(dead.topic, 0, 3, dead.key, dead.value, dead.headers)
    spans = [find(headers) for headers in (tier.headers, dead.headers, replay_headers(entry))]
    assert {trace_id_of(span) for span in spans} == {trace_id_of(parent)}
    assert len({span_id_of(span) for span in [parent, *spans]}) == 4
    assert sum(key == TRACEPARENT for key, _ in dead.headers) == 1


def test_malformed_traceparents_have_no_trace_id() -> None:
    for text in (b"", b"00-xyz", b"00-" + b"0" * 32 + b"-" + b"1" * 16 + b"-01", b"00-g" * 9):
        assert trace_id_of(text) is None
