"""`claimx-poller` (claimx.md §4): real worker processes against the Kusto stand-in and a broker."""

from __future__ import annotations

import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from claimx_fixtures import SPEC_IDS, fixture_rows

from vpipe_claimx.events import raw_message
from vpipe_core.registry import load_worker
from vpipe_testing.brokers import session_timeout_ms
from vpipe_testing.kafka import ensure_topics, produce, read_all, stored_cursor
from vpipe_testing.kusto import KustoStandIn, kusto_time
from vpipe_testing.workers import WorkerProcess, worker_command, worker_environment

RAW = "claimx.events.raw"
FIXTURES = Path(__file__).parents[2] / "plugins/vpipe_claimx/vpipe_claimx/data/claimx_events.jsonl"
NO_BROKER = "127.0.0.1:9"  # configuration errors stop the worker before it connects
ROW_4_KEY = "5517342|PROJECT_FILE_ADDED|98810452|||"
LAST_TIME = "2026-02-04T11:40:00.0000000Z"  # row 21


@pytest.fixture
def standin() -> Iterator[KustoStandIn]:
    with KustoStandIn.from_jsonl(
        FIXTURES, table="ClaimXEvents", key_column=None, time_column="IngestionTime"
    ) as server:
        yield server


def eventhouse_env(standin: KustoStandIn, **overrides: str) -> dict[str, str]:
    return {
        "CLAIMX_EVENTHOUSE_CLUSTER_URL": standin.url,
        **standin.env,
        "CLAIMX_EVENTHOUSE_DATABASE": standin.database,
        "CLAIMX_EVENTHOUSE_POLL_INTERVAL_SECONDS": "1",
        "CLAIMX_EVENTHOUSE_SETTLE_SECONDS": "0",
        "CLAIMX_EVENTHOUSE_START_FROM": "2026-02-01T00:00:00Z",
        **overrides,
    }


def time_of(row: dict[str, Any]) -> str:
    return kusto_time(row["IngestionTime"])


def ids_of(rows: list[dict[str, Any]]) -> Counter[str]:
    return Counter(raw_message(row)["event_id"] for row in rows)


def keys(messages: list[Any]) -> Counter[str]:
    return Counter(message.key().decode() for message in messages)


def stored(bootstrap: str, suffix: str = "") -> dict[str, Any]:
    return stored_cursor(bootstrap, f"claimx-poller{suffix}") or {}


def wait_for(condition: Any, timeout_s: float = 30.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def test_every_fixture_row_is_published_once_keyed_by_its_event_id(
    claimx_kafka, start_worker, standin, tmp_path
):
    start_worker("claimx-poller", claimx_kafka, **eventhouse_env(standin))
    messages = read_all(claimx_kafka, RAW, expect=21, timeout_s=30)
    wait_for(lambda: stored(claimx_kafka).get("ingestion_time") == LAST_TIME, what="the cursor")
    messages += read_all(claimx_kafka, RAW, idle_s=2.5)[21:]

    assert len(messages) == 21
    assert keys(messages) == ids_of(fixture_rows())
    assert keys(messages)[SPEC_IDS[4]] == 2, "row 16 duplicates row 4: both are published"
    assert set(SPEC_IDS.values()) <= set(keys(messages))
    for message in messages:
        value = orjson.loads(message.value())
        assert value["event_id"] == message.key().decode()
        assert dict(message.headers() or [])["trace_id"] == message.key()
        assert "_case" not in value["raw_data"]


def test_a_restart_inside_rows_sharing_one_time_neither_skips_nor_repeats(
    claimx_kafka, start_worker, standin, tmp_path
):
    standin.delay_next(0.0)  # page 1 (rows 1-3 and one of the duplicates 4/16) at once ...
    standin.delay_next(30.0)  # ... page 2 is held, so the poller is killed at that boundary
    env = eventhouse_env(standin, CLAIMX_EVENTHOUSE_BATCH_SIZE="4")
    poller = start_worker("claimx-poller", claimx_kafka, **env)
    wait_for(lambda: stored(claimx_kafka), what="the first checkpoint")
    first = stored(claimx_kafka)
    assert first["cursor_key"] == ROW_4_KEY and len(first["emitted"]) == 1
    assert poller.process is not None
    poller.process.kill()  # kill -9: no chance to flush anything more
    poller.process.wait(10)

    start_worker("claimx-poller", claimx_kafka, **env)
    messages = read_all(claimx_kafka, RAW, expect=21, timeout_s=30)
    messages += read_all(claimx_kafka, RAW, idle_s=2.5)[21:]

    assert keys(messages) == ids_of(fixture_rows()), "every row exactly once across the restart"
    resumed = [q for q in standin.queries if q.parameters.get("last_key") == ROW_4_KEY]
    assert resumed and "| take 5" in resumed[0].csl  # 4 new rows + the duplicate to skip


def test_a_standby_on_another_host_takes_over_when_the_active_poller_is_killed(
    claimx_kafka, standin, tmp_path
):
    standin.delay_next(0.0)  # the active poller's page 1 answers at once ...
    standin.delay_next(60.0)  # ... its page 2 is held: it is killed mid-drain
    env = eventhouse_env(standin, CLAIMX_EVENTHOUSE_BATCH_SIZE="4")
    ports = load_worker("claimx-poller").port_for
    hosts = []
    for instance, host in ((1, "host-a"), (2, "host-b")):  # no STATE_DIR in common
        host_env = worker_environment(claimx_kafka, tmp_path / host, RETRY_DELAYS="1,2", **env)
        hosts.append(WorkerProcess("claimx-poller", host_env, tmp_path, instance, ports(instance)))
    active, standby = hosts
    try:
        active.start().wait_ready(60)
        wait_for(lambda: stored(claimx_kafka), what="the first checkpoint")
        standby.start().wait_ready(60)
        assert standby.probe("/readyz") == (200, {"status": "ready", "detail": "standby"})
        assert 'vpipe_poller_active{worker="claimx-poller"} 0.0' in standby.metrics_text()
        assert 'vpipe_poller_active{worker="claimx-poller"} 1.0' in active.metrics_text()
        assert active.process is not None
        active.process.kill()  # kill -9 of the host's poller: no goodbye to the group
        killed_at = time.monotonic()
        bound_s = session_timeout_ms() / 1000 + 15  # the session timeout, then a rebalance
        wait_for(lambda: "became active" in standby.output(), bound_s, "the takeover")
        took_s = time.monotonic() - killed_at
        messages = read_all(claimx_kafka, RAW, expect=21, timeout_s=30)
        messages += read_all(claimx_kafka, RAW, idle_s=2.5)[21:]
    finally:
        for poller in hosts:
            poller.stop()

    print(f"takeover {took_s:.1f} s after kill -9 (session timeout {session_timeout_ms()} ms)")
    assert keys(messages) == ids_of(fixture_rows()), "every row exactly once across the takeover"
    assert stored(claimx_kafka)["ingestion_time"] == LAST_TIME
    resumed = [q for q in standin.queries if q.parameters.get("last_key") == ROW_4_KEY]
    assert resumed, "the standby resumed at the killed poller's last cursor"


def run_worker(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    command = [*worker_command(), *args]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)


def run_backfill(env: dict[str, str], start: str, end: str) -> subprocess.CompletedProcess[str]:
    return run_worker(
        env, "--name", "claimx-poller", "--backfill-from", start, "--backfill-to", end
    )


def test_a_backfill_next_to_the_live_poller_drains_its_window_and_exits(
    claimx_kafka, start_worker, standin, tmp_path
):
    live_env = eventhouse_env(standin, CLAIMX_EVENTHOUSE_START_FROM="2026-02-04T11:00:00Z")
    start_worker("claimx-poller", claimx_kafka, **live_env)  # holds the metrics port
    live_rows = [r for r in fixture_rows() if time_of(r) >= "2026-02-04T11:00:00.0000000Z"]
    read_all(claimx_kafka, RAW, expect=len(live_rows), timeout_s=30)
    wait_for(lambda: stored(claimx_kafka).get("ingestion_time") == LAST_TIME, what="the cursor")
    live_cursor = stored(claimx_kafka)

    start, end = "2026-02-03T10:22:41.5093318Z", "2026-02-04T09:26:13.095884Z"  # rows 4 .. 9
    env = worker_environment(claimx_kafka, tmp_path, RETRY_DELAYS="1,2", **eventhouse_env(standin))
    backfill = run_backfill(env, start, end)
    again = run_backfill(env, start, end)
    messages = read_all(claimx_kafka, RAW, idle_s=2.5)

    assert backfill.returncode == 0, backfill.stderr + backfill.stdout[-3000:]
    assert again.returncode == 0, again.stderr + again.stdout[-3000:]
    window = [r for r in fixture_rows() if start <= time_of(r) <= kusto_time(end)]
    assert len(window) == 7  # rows 4, 5, 6, 7, 8, 9 and 16: both ends included
    assert keys(messages) == ids_of(live_rows) + ids_of(window), "the second run adds nothing"
    assert stored(claimx_kafka) == live_cursor, "the live cursor is untouched"
    suffix = ".backfill-20260203T102241.5093318Z-20260204T092613.0958840Z"
    assert stored(claimx_kafka, suffix)["ingestion_time"] == "2026-02-04T09:26:13.0958840Z"  # row 9


def test_backfill_flags_are_checked_before_anything_starts(tmp_path):
    env = worker_environment(NO_BROKER, tmp_path)
    one_flag = run_worker(env, "--name", "claimx-poller", "--backfill-from", "2026-02-03")
    bad_time = run_backfill(env, "2026-02-03", "tomorrow")
    window = ["--backfill-from", "2026-02-03", "--backfill-to", "2026-02-04"]
    not_a_poller = run_worker(env, "--name", "claimx-ingester", *window)

    assert one_flag.returncode == 2 and "go together" in one_flag.stderr
    assert bad_time.returncode == 2 and "--backfill-to: got 'tomorrow'" in bad_time.stderr
    assert not_a_poller.returncode == 2 and "claimx-ingester is not a poller" in (
        not_a_poller.stderr
    )


def test_a_missing_cluster_url_stops_the_poller_naming_the_variable(start_worker):
    poller = start_worker(
        "claimx-poller", NO_BROKER, ready=False, CLAIMX_EVENTHOUSE_DATABASE="claimx"
    )

    assert poller.wait(30) == 2
    assert "CLAIMX_EVENTHOUSE_CLUSTER_URL: required" in poller.output()


def test_the_sample_source_replays_the_bundled_file_with_fresh_ids_per_round(
    claimx_kafka, start_worker, tmp_path
):
    start_worker(
        "claimx-poller", claimx_kafka, CLAIMX_EVENT_SOURCE="sample", SAMPLE_EVENTS_PER_MINUTE="6000"
    )
    messages = read_all(claimx_kafka, RAW, until=lambda read: replayed_twice(read), timeout_s=60)

    values = [orjson.loads(message.value()) for message in messages]
    assert all("_case" not in value["raw_data"] for value in values)
    assert all(len(value["ingested_at"]) == 28 for value in values)
    assert len(keys(messages)) == len(messages), "every replayed event has an id of its own"

    def stored_round() -> int:
        return int(stored(claimx_kafka, ".sample").get("round", 0))

    # the cursor moves once the page is acknowledged, a moment after its records are readable
    wait_for(lambda: stored_round() >= 2, what="a round-2 cursor")


def replayed_twice(messages: list[Any]) -> bool:
    return {"cx-src-000000123", "cx-src-000000123-r2"} <= set(keys(messages))


def test_the_event_hub_source_publishes_each_row_with_its_event_id(claimx_kafka, start_worker):
    hub = "claimx-eventhub"
    ensure_topics(claimx_kafka, [hub], partitions=2)
    rows = fixture_rows()[:5]
    produce(claimx_kafka, hub, [orjson.dumps(row) for row in rows] + [b"not json"])
    start_worker(
        "claimx-poller",
        claimx_kafka,
        EVENT_SOURCE="eventhub",
        EVENTHUB_BOOTSTRAP_SERVERS=claimx_kafka,
        EVENTHUB_SECURITY_PROTOCOL="PLAINTEXT",
        EVENTHUB_AUTO_OFFSET_RESET="earliest",
        CLAIMX_EVENTHUB_NAME=hub,
    )
    messages = read_all(claimx_kafka, RAW, expect=6, timeout_s=30)

    assert b"not json" in [m.value() for m in messages]
    assert keys([m for m in messages if m.key() is not None]) == ids_of(rows)
