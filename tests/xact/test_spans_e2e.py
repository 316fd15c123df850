"""OpenTelemetry spans across the XACT workers, each in its own process: the spans of one event,
from the poller's root span to the Delta row and the attachment's result, share one trace and
form a tree of parent and child spans (exported by the SDK over OTLP/HTTP to a local receiver)."""

from __future__ import annotations

import contextlib
from collections import defaultdict

import orjson
import pytest
from test_pipeline_e2e import GROUPS, WORKERS, first_per_trace, pipeline_env, rehost, wait_rows
from xact_fixtures import fixture_rows

from vpipe_core.lineage.traceparent import find, trace_id_of
from vpipe_testing.delta import wait_committed
from vpipe_testing.kafka import read_all
from vpipe_testing.kusto import KustoStandIn
from vpipe_testing.otlp import OtlpReceiver, ReceivedSpan, by_trace, stage_edges, tree_problems
from vpipe_testing.s3 import LocalS3
from vpipe_xact.events import InvalidEvent, parse_event
from vpipe_xact.paths import attachments_of

# Each stage and the stage its span's parent belongs to.
EVENT_CHAIN = {
    "xact-event-ingester": "xact-poller",
    "xact-delta-writer": "xact-poller",
}
FILE_CHAIN = {
    **EVENT_CHAIN,
    "xact-enricher": "xact-event-ingester",
    "xact-download": "xact-enricher",
    "xact-upload": "xact-download",
    "xact-result-processor": "xact-upload",
}
CONSUMER_ATTRIBUTES = {
    "vpipe.worker",
    "vpipe.outcome",
    "vpipe.retry.attempt",
    "messaging.destination.name",
    "messaging.destination.partition.id",
    "messaging.kafka.offset",
}


def chained(spans: list[ReceivedSpan], chain: dict[str, str]) -> bool:
    """Every stage of `chain` has a span whose parent is a span of the stage before it."""
    return not tree_problems(spans, "xact-poller") and set(chain.items()) <= stage_edges(spans)


@pytest.mark.slow
def test_spans_of_one_event_share_one_trace_from_poller_to_delta_row(
    xact_kafka, start_worker, tmp_path
):
    with LocalS3() as s3, OtlpReceiver() as otlp:
        rows, bodies = rehost(fixture_rows(), s3)
        valid = []
        for row in rows:
            with contextlib.suppress(InvalidEvent):
                valid.append(parse_event(orjson.dumps(row)))
        kept = first_per_trace(valid)
        with_files = {
            event.trace_id
            for event in kept
            if any(a.url in bodies and a.file_type != "UNKNOWN" for a in attachments_of(event))
        }
        with KustoStandIn(rows, table="Events", database="xact") as kusto:
            tables = tmp_path / "tables"
            env = {**pipeline_env(kusto, tables, tmp_path / "onelake", bodies), **otlp.env}
            for worker in WORKERS:
                start_worker(worker, xact_kafka, **env)
            wait_rows(tables / "xact_events", len({event.trace_id for event in valid}))
            for group, topic in GROUPS:
                assert wait_committed(xact_kafka, group, topic, timeout_s=120), group
        # the W3C traces of each event (a repeated event has two), from the raw topic
        w3c: dict[str, set[str]] = defaultdict(set)
        polled = set()
        for message in read_all(xact_kafka, "xact.events.raw", idle_s=2):
            polled.add(trace_id_of(find(message.headers())))
            if message.key():
                w3c[message.key().decode()].add(trace_id_of(find(message.headers())) or "")

        def complete(spans: list[ReceivedSpan]) -> bool:
            traces = by_trace(spans)
            return all(
                any(
                    chained(
                        traces.get(trace, []), FILE_CHAIN if event in with_files else EVENT_CHAIN
                    )
                    for trace in w3c[event]
                )
                for event in {e.trace_id for e in kept}
            )

        assert with_files, "the fixture file has events with attachments"
        assert otlp.wait_for(complete, timeout_s=60), sorted(
            (s.trace_id, s.name, s.parent_span_id) for s in otlp.spans
        )
        spans = otlp.spans

    traces = by_trace(spans)
    assert set(traces) <= polled, "every span belongs to the trace of a polled event"
    for trace, members in traces.items():
        assert not tree_problems(members, "xact-poller"), (trace, members)
    for span in spans:
        assert span.service == span.name == span.attributes["vpipe.worker"]
        if span.name != "xact-poller":
            assert set(span.attributes) >= CONSUMER_ATTRIBUTES, span
    outcomes = {(span.name, span.attributes.get("vpipe.outcome")) for span in spans}
    assert ("xact-poller", "published") in outcomes
    assert ("xact-delta-writer", "done") in outcomes
    # the fixture's invalid events are dead letters of the ingester: an error span that says why
    dead = [
        span
        for span in spans
        if span.name == "xact-event-ingester" and span.attributes["vpipe.outcome"] == "dead"
    ]
    assert dead and all(span.error for span in dead)
    assert {span.attributes["vpipe.routed_to"] for span in dead} == {"xact.dlq"}
    assert {span.attributes["vpipe.error.category"] for span in dead} == {"permanent"}
