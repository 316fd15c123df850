"""OpenTelemetry spans across the ClaimX workers, each in its own process: every event's spans
form one tree under its poller span, through enrichment, entity rows, downloads and results
(exported by the SDK over OTLP/HTTP to a local receiver)."""

from __future__ import annotations

import pytest
from claimx_fixtures import fixture_rows

from vpipe_testing.claimx.fake_api import FakeClaimxApi
from vpipe_testing.demo import table_rows
from vpipe_testing.otlp import OtlpReceiver, by_trace, stage_edges, tree_problems

from .test_pipeline_e2e import (
    EVENT_ROWS,
    WORKERS,
    claimx_source,
    pipeline_env,
    settle,
    wait_for,
)

# (stage, the stage of its parent span)
EDGES = {
    ("claimx-ingester", "claimx-poller"),
    ("claimx-delta-writer", "claimx-poller"),
    ("claimx-enricher", "claimx-ingester"),
    ("claimx-entity-writer", "claimx-enricher"),
    ("claimx-downloader", "claimx-enricher"),
    ("claimx-uploader", "claimx-downloader"),
    ("claimx-result-processor", "claimx-uploader"),
}


@pytest.mark.slow
def test_spans_of_each_event_form_one_trace(claimx_kafka, start_worker, tmp_path):
    tables = tmp_path / "tables"
    with (
        OtlpReceiver() as otlp,
        FakeClaimxApi() as api,
        claimx_source(fixture_rows()) as kusto,
    ):
        env = {**pipeline_env(api, kusto, tables, tmp_path / "onelake"), **otlp.env}
        for name in WORKERS:
            start_worker(name, claimx_kafka, **env)
        wait_for(
            lambda: len(table_rows(tables / "claimx_events", ["event_id"])) >= EVENT_ROWS,
            what="the events table",
        )
        settle(claimx_kafka)

        def every_stage_seen(spans) -> bool:
            edges = set().union(*(stage_edges(t) for t in by_trace(spans).values()))
            return edges >= EDGES

        assert otlp.wait_for(every_stage_seen, timeout_s=60), sorted(
            (s.trace_id, s.name, s.parent_span_id) for s in otlp.spans
        )
        spans = otlp.spans

    traces = by_trace(spans)
    assert len(traces) >= EVENT_ROWS
    for trace, members in traces.items():
        assert not tree_problems(members, "claimx-poller"), (trace, members)
    for span in spans:
        assert span.service == span.name == span.attributes["vpipe.worker"]
    dead = [span for span in spans if span.attributes.get("vpipe.outcome") == "dead"]
    assert dead and all(span.error and span.attributes["vpipe.routed_to"] for span in dead)
    assert {span.attributes["vpipe.routed_to"] for span in dead} == {"claimx.dlq"}
