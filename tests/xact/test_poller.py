"""`xact-poller` (xact.md §6): real worker processes against the Kusto stand-in and a broker."""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from xact_fixtures import FIXTURES, fixture_rows

from vpipe_core.lineage.traceparent import TRACEPARENT, trace_id_of
from vpipe_testing.delta import wait_committed
from vpipe_testing.kafka import ensure_topics, produce, read_all, stored_cursor
from vpipe_testing.kusto import KustoStandIn, kusto_time

RAW = "xact.events.raw"
CURSORS = "vpipe.poller.cursors"
SHARED_TIME = "2026-02-03T09:40:07.1200000Z"
NO_BROKER = "127.0.0.1:9"  # configuration errors stop the worker before it connects


@pytest.fixture
def standin() -> Iterator[KustoStandIn]:
    with KustoStandIn() as server:
        yield server


def eventhouse_env(standin: KustoStandIn, **overrides: str) -> dict[str, str]:
    return {
        "XACT_EVENTHOUSE_CLUSTER_URL": standin.url,
        **standin.env,
        "XACT_EVENTHOUSE_DATABASE": standin.database,
        "XACT_EVENTHOUSE_POLL_INTERVAL_SECONDS": "1",
        "XACT_EVENTHOUSE_SETTLE_SECONDS": "0",
        "XACT_EVENTHOUSE_START_FROM": "2026-02-01T00:00:00Z",
        **overrides,
    }


def event(trace_id: str, **extra: Any) -> dict[str, Any]:
    return {
        "type": "verisk.claims.property.xn.status.accepted",
        "version": 1,
        "utcDateTime": "2026-02-03T09:40:00Z",
        "traceId": trace_id,
        "data": {"assignmentId": "A1"},
        **extra,
    }


def published(messages: list[Any]) -> list[dict[str, Any]]:
    return [orjson.loads(message.value()) for message in messages]


def cursor_file(tmp_path: Path) -> Path:
    """Where the poller kept its cursor before the cursor topic; imported once."""
    return tmp_path / "state" / "xact-poller.cursor.json"


def stored(bootstrap: str, suffix: str = "") -> dict[str, Any]:
    return stored_cursor(bootstrap, f"xact-poller{suffix}") or {}


def wait_for(condition: Any, timeout_s: float = 30.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def test_every_fixture_row_is_published_once_with_its_key_and_ingestion_time(
    xact_kafka, start_worker, tmp_path
):
    with KustoStandIn.from_jsonl(FIXTURES, table="XactEvents") as standin:
        start_worker(
            "xact-poller",
            xact_kafka,
            **eventhouse_env(
                standin,
                XACT_EVENTHOUSE_SOURCE_TABLE="XactEvents",
                XACT_EVENTHOUSE_BATCH_SIZE="4",
                XACT_EVENTHOUSE_QUERY_TIMEOUT_SECONDS="45",
            ),
        )
        messages = read_all(xact_kafka, RAW, expect=17, timeout_s=30)
        rows = fixture_rows()
        last = max(
            rows, key=lambda r: (kusto_time(r["ingestion_time"]), str(r.get("traceId") or ""))
        )
        last_at = kusto_time(last["ingestion_time"])
        wait_for(lambda: stored(xact_kafka).get("ingestion_time") == last_at, what="the cursor")
        later = read_all(xact_kafka, RAW, idle_s=2.5)

    assert len(later) == len(messages) == len(rows) == 17
    values = published(messages)
    by_time_and_key = {(v["ingestion_time"], v.get("traceId")): v for v in values}
    for row in rows:
        sent = by_time_and_key[(kusto_time(row["ingestion_time"]), row.get("traceId"))]
        assert {k: v for k, v in sent.items() if v is not None} == {
            **{k: v for k, v in row.items() if v is not None},
            "ingestion_time": kusto_time(row["ingestion_time"]),
        }
    for message, value in zip(messages, values, strict=True):
        trace = value.get("traceId")
        expected_key = None if trace is None else str(trace).encode()
        assert message.key() == expected_key
        assert dict(message.headers() or []).get("trace_id") == expected_key
    trace_ids = {trace_id_of(dict(m.headers() or []).get(TRACEPARENT)) for m in messages}
    assert None not in trace_ids and len(trace_ids) == len(messages), "a new trace per event"
    assert sum(1 for v in values if v["ingestion_time"] == SHARED_TIME) == 2

    assert stored(xact_kafka)["cursor_key"] == str(last.get("traceId") or "")
    first = standin.queries[0]
    assert first.parameters == {"last_key": ""}
    assert first.options["servertimeout"] == "0:00:45"
    assert "\nXactEvents\n" in first.csl and "| take 4" in first.csl
    assert "datetime(2026-01-31T23:59:59.9999999Z)" in first.csl  # one tick before START_FROM


def test_a_take_boundary_inside_one_ingestion_time_loses_and_repeats_nothing(
    xact_kafka, start_worker, standin
):
    standin.add_rows([event(f"trace-{i}") for i in (4, 1, 5, 3, 2)], ingestion_time=SHARED_TIME)
    env = eventhouse_env(standin, XACT_EVENTHOUSE_BATCH_SIZE="2")
    env["EVENTHOUSE_CLUSTER_URL"] = env.pop("XACT_EVENTHOUSE_CLUSTER_URL")  # the shared fallback
    start_worker("xact-poller", xact_kafka, **env)

    messages = read_all(xact_kafka, RAW, expect=5, timeout_s=30)
    messages += read_all(xact_kafka, RAW, idle_s=2.5)[5:]

    assert sorted(m.key() for m in messages) == [f"trace-{i}".encode() for i in range(1, 6)]
    first_three = [q.parameters["last_key"] for q in standin.queries[:3]]
    assert first_three == ["", "trace-2", "trace-4"]  # full pages drained at once, then short


def test_restart_after_one_page_neither_skips_nor_repeats_rows_sharing_one_time(
    xact_kafka, start_worker, standin, tmp_path
):
    traces = [f"t-{i:02d}" for i in range(10)]
    standin.add_rows([event(trace) for trace in traces], ingestion_time=SHARED_TIME)
    standin.delay_next(0.0)  # the first page answers at once ...
    standin.delay_next(30.0)  # ... the second is held, so the poller is stopped mid-drain
    env = eventhouse_env(standin, XACT_EVENTHOUSE_BATCH_SIZE="3")
    poller = start_worker("xact-poller", xact_kafka, **env)
    wait_for(lambda: stored(xact_kafka), what="the first checkpoint")
    time.sleep(0.5)
    assert len(standin.queries) == 1, "page 2 is asked for and held (recorded when answered)"
    assert stored(xact_kafka)["cursor_key"] == "t-02"
    assert poller.process is not None
    poller.process.kill()  # kill -9: no chance to flush anything more
    poller.process.wait(10)

    start_worker("xact-poller", xact_kafka, **env)
    messages = read_all(xact_kafka, RAW, expect=10, timeout_s=30)
    messages += read_all(xact_kafka, RAW, idle_s=2.5)[10:]

    counts = Counter(m.key().decode() for m in messages)
    assert counts == Counter(traces), "every row exactly once across the restart"
    wait_for(lambda: stored(xact_kafka).get("cursor_key") == "t-09", what="the last checkpoint")


def test_kusto_failures_back_off_then_recover(xact_kafka, start_worker, standin):
    standin.add_rows([event("after-failures")], ingestion_time=SHARED_TIME)
    standin.fail_next(2, status=500)
    start_worker("xact-poller", xact_kafka, ready=False, **eventhouse_env(standin))

    # poll interval 1 s: failures wait 2 s, then 4 s - never a tight loop. Each query's answer
    # is timed as it is seen (lower bounds only: a loaded machine can only stretch the gaps).
    seen = []
    for count in (1, 2, 3):
        wait_for(lambda n=count: len(standin.queries) >= n, timeout_s=60, what=f"query {count}")
        seen.append(time.monotonic())
    messages = read_all(xact_kafka, RAW, expect=1, timeout_s=30)
    assert [m.key() for m in messages] == [b"after-failures"]
    assert [q.status for q in standin.queries[:3]] == [500, 500, 200]
    assert seen[1] - seen[0] >= 1.5, "the first failure waits 2 s"
    assert seen[2] - seen[1] >= 3.5, "the second failure waits 4 s"


def test_a_corrupt_cursor_stops_the_poller_with_a_clear_error(xact_kafka, start_worker, standin):
    corrupt = b'{"ingestion_time": "2026-02-03T09:40:07Z", "cursor'
    produce(xact_kafka, CURSORS, [corrupt], key=b"xact-poller")
    poller = start_worker("xact-poller", xact_kafka, ready=False, **eventhouse_env(standin))

    assert poller.wait(30) == 2
    output = poller.output()
    assert "the record under key 'xact-poller' in topic vpipe.poller.cursors is corrupt" in output
    assert "will not guess a start position" in output and "tombstone" in output
    assert standin.queries == []


def test_an_old_cursor_file_without_a_7_digit_time_is_corrupt_too(
    xact_kafka, start_worker, standin, tmp_path
):
    cursor_file(tmp_path).parent.mkdir(parents=True)
    cursor_file(tmp_path).write_text('{"ingestion_time": "2026-02-03T09:40:07Z", "cursor_key": ""}')
    poller = start_worker("xact-poller", xact_kafka, ready=False, **eventhouse_env(standin))

    assert poller.wait(30) == 2
    output = poller.output()
    assert "xact-poller.cursor.json is corrupt" in output
    assert "is not a 7-digit UTC ingestion time" in output


def test_a_missing_cluster_url_stops_the_poller_naming_the_variable(start_worker):
    poller = start_worker("xact-poller", NO_BROKER, ready=False, XACT_EVENTHOUSE_DATABASE="vpipe")

    assert poller.wait(30) == 2
    assert "XACT_EVENTHOUSE_CLUSTER_URL: required" in poller.output()


def test_the_sample_source_replays_the_bundled_file_with_new_trace_ids_per_round(
    xact_kafka, start_worker, tmp_path
):
    start_worker("xact-poller", xact_kafka, EVENT_SOURCE="sample", SAMPLE_EVENTS_PER_MINUTE="3000")
    expected = Counter(str(row["traceId"]) for row in fixture_rows() if "traceId" in row)

    def rounds_of(messages: list[Any]) -> dict[int, Counter[str]]:
        rounds: dict[int, Counter[str]] = {1: Counter(), 2: Counter()}
        for message in messages:
            if message.key() is None:
                continue
            trace, _, replay = message.key().decode().rpartition("-r")
            if not trace or not replay.isdigit():
                trace, replay = message.key().decode(), "1"
            rounds.setdefault(int(replay), Counter())[trace] += 1
        return rounds

    # The poller keeps publishing across three partitions: the first 34 records read need not be
    # rounds 1 and 2 (a round-3 record can be read before a round-2 one); read until both are in.
    messages = read_all(
        xact_kafka,
        RAW,
        until=lambda got: all(r >= expected for r in list(rounds_of(got).values())[:2]),
        timeout_s=60,
    )
    rounds = rounds_of(messages)
    assert rounds[1] == expected
    assert rounds[2] == expected
    values = published(messages)
    assert all("_case" not in value and len(value["ingestion_time"]) == 28 for value in values)

    def replayed() -> dict[str, Any]:
        return stored(xact_kafka, ".sample") or {"round": 0, "line": 0}

    # the cursor moves once the page is acknowledged, a moment after its records are readable
    wait_for(lambda: replayed()["round"] >= 2 and replayed()["line"] >= 1, what="a round-2 cursor")


def test_the_sample_rate_is_honoured(xact_kafka, start_worker, tmp_path):
    sample = tmp_path / "few.jsonl"
    sample.write_text("\n".join(json.dumps(event(f"s-{i}")) for i in range(50)))
    start_worker(
        "xact-poller",
        xact_kafka,
        EVENT_SOURCE="sample",
        XACT_SAMPLE_EVENTS_FILE=str(sample),
        SAMPLE_EVENTS_PER_MINUTE="60",
    )

    def indices(messages: list[Any]) -> list[int]:
        return [int(m.key().decode().removeprefix("s-")) for m in messages]

    def window_read(messages: list[Any]) -> bool:
        # 4 s of publishing seen (the first stamp plus 4 s), and no earlier record still unread
        # in another partition
        stamps = [m.timestamp()[1] for m in messages]
        got = set(indices(messages))
        return bool(stamps) and max(stamps) - min(stamps) >= 4000 and got == set(range(len(got)))

    messages = read_all(xact_kafka, RAW, until=window_read, timeout_s=60)

    stamps = sorted(m.timestamp()[1] for m in messages)
    in_four_seconds = [t for t in stamps if t - stamps[0] < 4000]
    assert 3 <= len(in_four_seconds) <= 6  # one at once, then about one a second
    assert sorted(m.key() for m in messages) == sorted(
        f"s-{i}".encode() for i in range(len(messages))
    )


def test_the_event_hub_source_republishes_and_commits_only_what_was_published(
    xact_kafka, start_worker
):
    hub = "xact-eventhub"
    ensure_topics(xact_kafka, [hub], partitions=2)
    first = [orjson.dumps(event(f"eh-{i}")) for i in range(5)]
    produce(xact_kafka, hub, [*first, b"not json"])
    env = {
        "EVENT_SOURCE": "eventhub",
        "EVENTHUB_BOOTSTRAP_SERVERS": xact_kafka,
        "EVENTHUB_SECURITY_PROTOCOL": "PLAINTEXT",
        "EVENTHUB_AUTO_OFFSET_RESET": "earliest",
        "XACT_EVENTHUB_NAME": hub,
    }
    poller = start_worker("xact-poller", xact_kafka, **env)
    messages = read_all(xact_kafka, RAW, expect=6, timeout_s=30)
    source = {m.value(): m for m in read_all(xact_kafka, hub, expect=6)}
    poller.stop()

    produce(xact_kafka, hub, [orjson.dumps(event("eh-after-restart"))])
    start_worker("xact-poller", xact_kafka, **env)
    # Read the whole topic again rather than slicing by count: across partitions the 7th record
    # read need not be the new one. Once the poller has committed the hub to its end, anything
    # it re-emitted is already published.
    read_all(xact_kafka, RAW, until=lambda got: b"eh-after-restart" in keys(got), timeout_s=60)
    assert wait_committed(xact_kafka, "xact-poller", hub)
    messages = read_all(xact_kafka, RAW, idle_s=2.5)

    assert len(messages) == 7, "nothing re-emitted after the restart"
    assert b"not json" in [m.value() for m in messages]
    for message in messages:
        if message.value() == b"not json":
            continue
        value = orjson.loads(message.value())
        original = source.get(
            orjson.dumps({k: v for k, v in value.items() if k != "ingestion_time"})
        )
        if original is not None:
            assert value["ingestion_time"] == _from_ms(original.timestamp()[1])
        assert message.key() == value["traceId"].encode()
    assert {m.key() for m in messages} >= {b"eh-after-restart", b"eh-0", b"eh-4"}


def keys(messages: list[Any]) -> set[bytes | None]:
    return {message.key() for message in messages}


def _from_ms(milliseconds: int) -> str:
    from vpipe_core.eventsource.times import from_epoch_ms

    return from_epoch_ms(milliseconds)
