"""One bad record in a Delta batch is dead alone (issue 17 item 4): in a batch
`[t0, t1, bad, t3, t4]` through the real writers and a real table, the four good records are
written and done, and only `bad` is dead with its reason."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import orjson
import pytest

from vpipe_core.config.core import CoreSettings
from vpipe_core.config.loader import load_settings
from vpipe_core.context import WorkerContext
from vpipe_core.outcome import Dead, Done
from vpipe_core.record import Record
from vpipe_core.registry import handler_factory, load_worker
from vpipe_testing.delta import table_rows

GOOD = [0, 1, 3, 4]


def build_writer(worker: str, variable: str, table: Path) -> Any:
    spec = load_worker(worker)
    env = {variable: str(table)}
    settings = load_settings(CoreSettings, env)
    ctx = WorkerContext(spec, 1, spec.name, settings, env, logging.getLogger("test"))
    return handler_factory(spec)(ctx)


def xact_event(n: int, **changes: Any) -> dict[str, Any]:
    return {
        "type": "verisk.claims.property.xn.status.accepted",
        "version": 1,
        "utcDateTime": "2026-11-30T09:00:00Z",
        "traceId": f"trace-{n}",
        "data": {"assignmentId": f"A{n}"},
        **changes,
    }


def claimx_event(n: int, **changes: Any) -> dict[str, Any]:
    return {
        "event_id": f"cx-{n}",
        "event_type": "PROJECT_CREATED",
        "project_id": str(1000 + n),
        "ingested_at": "2026-11-30T09:00:00Z",
        "raw_data": {"eventType": "PROJECT_CREATED", "projectId": 1000 + n},
        **changes,
    }


def batch(topic: str, values: list[dict[str, Any]]) -> list[Record]:
    return [Record(topic, 0, i, None, orjson.dumps(v)) for i, v in enumerate(values)]


def assert_only_bad_is_dead(outcomes: list[Any], table: Path, column: str) -> None:
    assert [isinstance(o, Dead) for o in outcomes] == [False, False, True, False, False]
    assert all(isinstance(outcomes[i], Done) for i in GOOD)
    assert len(table_rows(table)) == 4, [row[column] for row in table_rows(table)]


HOSTILE_XACT = [
    {"version": "²"},
    {"version": "9" * 5000},
    {"utcDateTime": "9999-12-31T23:00-05:00"},
]


@pytest.mark.parametrize("bad", HOSTILE_XACT, ids=["superscript", "5000-digits", "year-10000"])
def test_xact_writer_dead_letters_only_the_hostile_event(tmp_path: Path, bad: dict) -> None:
    table = tmp_path / "xact_events"
    writer = build_writer("xact-delta-writer", "XACT_DELTA_EVENTS_TABLE", table)
    try:
        values = [xact_event(n, **(bad if n == 2 else {})) for n in range(5)]
        outcomes = writer.handle_batch(batch("xact.events.raw", values))
    finally:
        writer.close()
    assert_only_bad_is_dead(outcomes, table, "trace_id")
    assert "invalid XACT event" in outcomes[2].error


def failing_on(marker: str, convert: Any) -> Any:
    def convert_or_fail(event: Any, now: Any) -> Any:
        if marker in orjson.dumps(getattr(event, "source", None) or event.raw_data).decode():
            raise OverflowError("a value no check foresaw")
        return convert(event, now)

    return convert_or_fail


def test_an_unforeseen_error_in_the_xact_writer_is_dead_alone(tmp_path, monkeypatch) -> None:
    import vpipe_xact.delta_writer as module

    monkeypatch.setattr(module, "event_row", failing_on("trace-2", module.event_row))
    table = tmp_path / "xact_events"
    writer = build_writer("xact-delta-writer", "XACT_DELTA_EVENTS_TABLE", table)
    try:
        outcomes = writer.handle_batch(batch("xact.events.raw", [xact_event(n) for n in range(5)]))
    finally:
        writer.close()
    assert_only_bad_is_dead(outcomes, table, "trace_id")
    assert "OverflowError: a value no check foresaw" in outcomes[2].error


def test_an_unforeseen_error_in_a_multi_table_writer_is_dead_alone(tmp_path, monkeypatch) -> None:
    import vpipe_claimx.delta_writer as module

    monkeypatch.setattr(module, "event_row", failing_on("1002", module.event_row))
    table = tmp_path / "claimx_events"
    writer = build_writer("claimx-delta-writer", "CLAIMX_DELTA_EVENTS_TABLE", table)
    try:
        values = [claimx_event(n) for n in range(5)]
        outcomes = writer.handle_batch(batch("claimx.events.raw", values))
    finally:
        writer.close()
    assert_only_bad_is_dead(outcomes, table, "event_id")
    assert "OverflowError" in outcomes[2].error


WRITERS = [
    ("xact-delta-writer", "XACT_DELTA_EVENTS_TABLE", "xact.events.raw", xact_event, "trace_id"),
    (
        "claimx-delta-writer",
        "CLAIMX_DELTA_EVENTS_TABLE",
        "claimx.events.raw",
        claimx_event,
        "event_id",
    ),
]
BAD_VALUE = {
    "xact.events.raw": {"version": "²"},
    "claimx.events.raw": {"ingested_at": "9999-12-31T23:00-05:00"},
}


@pytest.mark.parametrize(("worker", "variable", "topic", "event", "column"), WRITERS)
def test_a_dead_letter_lost_after_the_delta_commit_is_sent_again(
    tmp_path: Path, worker: str, variable: str, topic: str, event: Any, column: str
) -> None:
    """Issue 17 item 5. The process commits the batch to Delta and dies before the dead letter
    of `bad` is acknowledged (its outcomes are lost). The restarted writer, handed the same
    records again, dead-letters `bad` again and writes nothing twice."""
    table = tmp_path / "table"
    values = [event(n, **(BAD_VALUE[topic] if n == 2 else {})) for n in range(5)]
    first = build_writer(worker, variable, table)
    try:
        first.handle_batch(batch(topic, values))  # outcomes lost with the process
    finally:
        first.close()
    restarted = build_writer(worker, variable, table)
    try:
        outcomes = restarted.handle_batch(batch(topic, values))
    finally:
        restarted.close()
    assert_only_bad_is_dead(outcomes, table, column)
