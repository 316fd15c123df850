"""The shared event sources in-process: times, Eventhouse paging and its boundary rule, proxy and
CA bundle, backfill windows, sample pacing. The cursor topic and the lease are in
tests/core/test_poller_lease.py; domain pollers run as real worker processes in
tests/xact/test_poller.py and tests/claimx/test_poller.py."""

from __future__ import annotations

import logging
import threading
import time
import zlib
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import attrs
import orjson
import pytest
from azure.core.credentials import AccessToken
from azure.kusto.data.exceptions import KustoServiceError
from confluent_kafka import Consumer, TopicPartition

from vpipe_core.config.core import CoreSettings
from vpipe_core.context import WorkerContext
from vpipe_core.eventsource.backfill import BackfillWindow
from vpipe_core.eventsource.build import build_source
from vpipe_core.eventsource.cursor import CursorError, CursorStore, StoredCursor
from vpipe_core.eventsource.domain import (
    DomainSource,
    EventhouseOptions,
    EventhouseTable,
    EventHubOptions,
)
from vpipe_core.eventsource.eventhouse import (
    EventhouseReader,
    Position,
    SourceRow,
    kusto_client,
    unpublished,
)
from vpipe_core.eventsource.eventhouse_source import EventhouseSource, eventhouse_problems
from vpipe_core.eventsource.leased import LeasedSource
from vpipe_core.eventsource.sample import ReplayPosition, SampleRow, SampleSource
from vpipe_core.eventsource.settings import EventSourceSettings
from vpipe_core.eventsource.times import (
    from_epoch_ms,
    ingestion_time,
    parse_ingestion_time,
    tick_after,
    tick_before,
)
from vpipe_core.kafka.clientconf import common_config
from vpipe_core.kafka.topics import POLLER_CURSORS
from vpipe_core.outcome import Output
from vpipe_core.spec import Kind, WorkerSpec
from vpipe_core.values.timestamps import parse_iso_utc
from vpipe_testing.brokers import session_timeout_ms
from vpipe_testing.kafka import ensure_topics, produce
from vpipe_testing.kusto import KustoStandIn

T = "2026-02-03T09:40:07.1200000Z"
EARLY = Position("2026-02-01T00:00:00.0000000Z", "")
TABLE = EventhouseTable("Events", "tostring(id)")
SPEC = WorkerSpec(
    name="dom-poller", domain="dom", handler="x:y", kind=Kind.SOURCE, output_topics=("dom.raw",)
)


def event(key: str, **extra: Any) -> dict[str, Any]:
    return {"id": key, "kind": "test", **extra}


def publish_row(row: dict[str, Any]) -> Output:
    return Output("dom.raw", orjson.dumps(row), str(row["id"]).encode())


def publish_record(value: dict[str, Any], timestamp_ms: int | None) -> Output:
    return publish_row({**value, "timestamp_ms": timestamp_ms})


def domain(**eventhouse: Any) -> DomainSource:
    options = {
        "cluster_url": None,
        "database": "vpipe",
        "table": TABLE,
        "batch_size": 10,
        "poll_interval_s": 1,
        "query_timeout_s": 30,
        "settle_s": 0,
        "start_from": "2026-02-01T00:00:00Z",
        **eventhouse,
    }
    return DomainSource(
        domain="dom",
        topic="dom.raw",
        event_source=None,
        eventhouse=EventhouseOptions(**options),
        eventhub=EventHubOptions(None, None),
        sample_file=Path("/nonexistent.jsonl"),
        publish_row=publish_row,
        publish_record=publish_record,
        replay_id_fields=("id",),
    )


@pytest.fixture
def cursor_kafka(kafka_bootstrap: str) -> str:
    """The session broker with the pollers' cursor topic (each test's poller has its own name)."""
    ensure_topics(kafka_bootstrap, [POLLER_CURSORS], partitions=1)
    ensure_topics(kafka_bootstrap, ["dom.raw"], partitions=2)
    return kafka_bootstrap


def context(
    tmp_path: Path, bootstrap: str, backfill: BackfillWindow | None = None, **env: str
) -> WorkerContext:
    """A poller's context, named after the test (its cursor key and lease group are its own);
    EVENTHOUSE_AUTH=none, as the Kusto stand-in takes no token."""
    env = {"EVENTHOUSE_AUTH": "none", **env}
    settings = CoreSettings(
        state_dir=tmp_path / "state",
        kafka_bootstrap_servers=bootstrap,
        kafka_session_timeout_ms=session_timeout_ms(),
    )
    spec = attrs.evolve(SPEC, name=f"dom-poller-{zlib.crc32(str(tmp_path).encode())}")
    logger = logging.getLogger("test")
    return WorkerContext(spec, 1, spec.name, settings, env, logger, backfill=backfill)


def leased(source: Any, timeout_s: float = 30.0) -> Any:
    """`source` once it holds its lease (the first instance of a group gets it)."""
    deadline = time.monotonic() + timeout_s
    while not source.holds_lease:
        assert time.monotonic() < deadline, "the source never got its lease"
        time.sleep(0.05)
    return source


def keys(outputs: Any) -> list[str]:
    return [output.key.decode() for output in outputs]


def drain(source: Any, limit: int = 50) -> list[str]:
    """Poll and acknowledge until a short page (or a finished backfill)."""
    published: list[str] = []
    for _ in range(limit):
        outputs, more = source.poll()
        acknowledge(source)
        published += keys(outputs)
        if not more or getattr(source, "finished", False):
            return published
    raise AssertionError("the source never ran dry")


def acknowledge(source: Any) -> None:
    """What the source loop calls once a page is acknowledged (here: nothing was produced)."""
    if isinstance(source, LeasedSource):
        source.acknowledged({})
    else:
        source.acknowledged()


# --- ingestion times ----------------------------------------------------------------------------


def test_ingestion_times_keep_seven_digits():
    moment = datetime(2026, 2, 3, 9, 40, 7, 120000, tzinfo=UTC)
    assert ingestion_time(moment) == T
    assert tick_before(moment) == "2026-02-03T09:40:07.1199999Z"
    assert tick_after(T) == "2026-02-03T09:40:07.1200001Z"
    assert tick_after("2026-02-03T23:59:59.9999999Z") == "2026-02-04T00:00:00.0000000Z"
    assert from_epoch_ms(1770111607120) == T
    assert parse_iso_utc("2026-02-03T10:40:07.12000009+01:00") == moment
    assert parse_iso_utc("2026-02-03T09:40:07.12") == moment  # naive is UTC
    assert parse_ingestion_time("2026-02-03T10:40:07.1234567+01:00") == (
        "2026-02-03T09:40:07.1234567Z"
    )
    assert parse_ingestion_time("2026-02-03") == "2026-02-03T00:00:00.0000000Z"
    with pytest.raises(ValueError):
        parse_iso_utc("yesterday")
    with pytest.raises(ValueError):
        parse_ingestion_time("2026-02-31T00:00:00.5Z")


# --- positions -----------------------------------------------------------------------------------


def test_a_cursor_written_before_emitted_existed_reads_as_nothing_emitted():
    assert Position.from_state({"ingestion_time": T, "cursor_key": "k"}) == Position(T, "k", ())


# --- the cursor topic and the lease ------------------------------------------------------------


def store_of(ctx: WorkerContext, suffix: str = "") -> CursorStore:
    key = f"{ctx.spec.name}{suffix}"
    old_file = ctx.settings.state_dir / f"{key}.cursor.json"
    return CursorStore(common_config(ctx.settings), key, "the start", old_file)


def end_offsets(bootstrap: str, topic: str, partitions: int) -> dict[int, int]:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "test-ends"})
    try:
        tps = [TopicPartition(topic, p) for p in range(partitions)]
        return {tp.partition: consumer.get_watermark_offsets(tp, timeout=10)[1] for tp in tps}
    finally:
        consumer.close()


def test_the_cursor_is_the_last_record_under_its_key(cursor_kafka: str, tmp_path: Path):
    ctx = context(tmp_path, cursor_kafka)
    store, sample = store_of(ctx), store_of(ctx, ".sample")
    assert store.load() is None

    store.write({"ingestion_time": T, "cursor_key": "k"}, {"dom.raw": {0: 5}})
    store.write({"ingestion_time": T, "cursor_key": "k2"}, {"dom.raw": {0: 7, 1: 2}})
    sample.write({"round": 1, "line": 3}, {})

    stored = store.load()
    assert stored is not None and stored.state == {"ingestion_time": T, "cursor_key": "k2"}
    assert stored.published == {"dom.raw": {0: 7, 1: 2}} and not stored.from_file
    assert sample.load() == StoredCursor({"round": 1, "line": 3}, {}, sample.origin)
    produce(cursor_kafka, POLLER_CURSORS, [None], key=store.key.encode())  # a tombstone
    assert store.load() is None


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("{", "not JSON"),
        ("[]", "expected a JSON object"),
        ('{"cursor_key": "k"}', "KeyError"),
        ('{"ingestion_time": "2026-02-03T09:40:07Z", "cursor_key": "k"}', "7-digit"),
        (f'{{"ingestion_time": "{T}", "cursor_key": "k", "emitted": "x"}}', "TypeError"),
        (f'{{"ingestion_time": "{T}", "cursor_key": "k", "published": []}}', "published"),
    ],
)
def test_a_corrupt_cursor_record_stops_the_poller_naming_topic_key_and_fix(
    cursor_kafka: str, tmp_path: Path, standin: KustoStandIn, text: str, reason: str
):
    ctx = context(tmp_path, cursor_kafka)
    produce(cursor_kafka, POLLER_CURSORS, [text.encode()], key=ctx.spec.name.encode())
    source = leased(build_source(ctx, domain(cluster_url=standin.url)))

    with pytest.raises(CursorError, match=reason) as raised:
        source.poll()
    source.close()
    message = str(raised.value)
    assert raised.value.exit_code == 2 and standin.queries == []
    assert f"key '{ctx.spec.name}' in topic vpipe.poller.cursors is corrupt" in message
    assert "tombstone" in message and "DOM_EVENTHOUSE_START_FROM" in message


def test_an_old_cursor_file_is_imported_once(
    cursor_kafka: str, tmp_path: Path, standin: KustoStandIn
):
    standin.add_rows([event("old")], ingestion_time=T)
    standin.add_rows([event("new")], ingestion_time="2026-02-03T10:00:00.0000000Z")
    ctx = context(tmp_path, cursor_kafka)
    old_file = ctx.settings.state_dir / f"{ctx.spec.name}.cursor.json"
    old_file.parent.mkdir(parents=True)
    old_file.write_text(f'{{"ingestion_time": "{T}", "cursor_key": "zz", "updated_at": "x"}}')

    first = leased(build_source(ctx, domain(cluster_url=standin.url)))
    published = drain(first)
    first.close()
    again = leased(build_source(context(tmp_path, cursor_kafka), domain(cluster_url=standin.url)))
    rerun = drain(again)
    again.close()

    assert published == ["new"] and rerun == []
    assert not old_file.exists() and old_file.with_name(old_file.name + ".imported").exists()
    stored = store_of(ctx).load()
    assert stored is not None and stored.state["cursor_key"] == "new"


def test_a_corrupt_old_cursor_file_is_the_same_clear_error(
    cursor_kafka: str, tmp_path: Path, standin: KustoStandIn
):
    ctx = context(tmp_path, cursor_kafka)
    old_file = ctx.settings.state_dir / f"{ctx.spec.name}.cursor.json"
    old_file.parent.mkdir(parents=True)
    old_file.write_text("{")
    source = leased(build_source(ctx, domain(cluster_url=standin.url)))

    with pytest.raises(CursorError, match=r"the cursor file .* is corrupt \(not JSON") as raised:
        source.poll()
    source.close()
    assert "move it away deliberately to start from DOM_EVENTHOUSE_START_FROM" in str(raised.value)
    assert old_file.exists()


def test_one_instance_publishes_the_other_stands_by_until_it_leaves(
    cursor_kafka: str, tmp_path: Path, standin: KustoStandIn
):
    standin.add_rows([event("a")], ingestion_time=T)
    dom = domain(cluster_url=standin.url)
    first_ctx, second_ctx = context(tmp_path, cursor_kafka), context(tmp_path, cursor_kafka)
    first = leased(build_source(first_ctx, dom))
    second = build_source(second_ctx, dom)
    assert drain(first) == ["a"] and first_ctx.health.detail is None
    time.sleep(3)  # the second has joined the group by now

    assert second.poll() == ((), False) and second_ctx.health.detail == "standby"
    first.close()  # type: ignore[attr-defined]
    leased(second)  # the lease moves as soon as the first leaves the group
    resumed = drain(second)
    standin.add_rows([event("b")], ingestion_time="2026-02-03T10:00:00.0000000Z")
    later = drain(second)
    second.close()  # type: ignore[attr-defined]

    assert resumed == [] and later == ["b"] and second_ctx.health.detail is None


def test_keys_published_after_the_cursor_are_not_published_again(
    cursor_kafka: str, tmp_path: Path, standin: KustoStandIn
):
    standin.add_rows([event(k) for k in ("a", "a", "b", "c", "d")], ingestion_time=T)
    ctx = context(tmp_path, cursor_kafka)
    # The last cursor, then a page the poller published but was killed before it stored.
    store_of(ctx).write(EARLY.state(), {"dom.raw": end_offsets(cursor_kafka, "dom.raw", 2)})
    produce(cursor_kafka, "dom.raw", [b"{}"], key=b"a")
    produce(cursor_kafka, "dom.raw", [b"{}"], key=b"b")

    source = leased(build_source(ctx, domain(cluster_url=standin.url)))
    published = drain(source)
    source.close()  # type: ignore[attr-defined]

    assert published == ["a", "c", "d"], "one of the two a's was published before: once more"


# --- Eventhouse paging --------------------------------------------------------------------------


@pytest.fixture
def standin() -> Iterator[KustoStandIn]:
    with KustoStandIn(key_column="id") as server:
        yield server


def eventhouse_source(
    standin: KustoStandIn,
    tmp_path: Path,
    batch_size: int = 10,
    settle_s: float = 0,
    position: Position = EARLY,
) -> EventhouseSource:
    reader = EventhouseReader(standin.client, None, "vpipe", TABLE, batch_size, 30)
    return EventhouseSource(reader, position, publish_row, 1, settle_s)


def test_the_cursor_moves_only_when_the_page_is_acknowledged(standin: KustoStandIn, tmp_path: Path):
    standin.add_rows([event("a"), event("b"), event("c")], ingestion_time=T)
    source = eventhouse_source(standin, tmp_path, batch_size=2)

    first, more = source.poll()
    again, _ = source.poll()  # the previous page was not acknowledged: read again
    assert more and keys(first) == keys(again) == ["a", "b"]
    assert source.position == EARLY

    moved = source.acknowledged()
    assert moved is not None and moved["cursor_key"] == "b" and len(moved["emitted"]) == 1
    rest, more = source.poll()
    stored = source.acknowledged()
    assert keys(rest) == ["c"] and not more
    assert source.position.at == (T, "c") and len(source.position.emitted) == 1
    assert stored == source.position.state() and source.acknowledged() is None
    source.close()


def test_the_query_pages_with_greater_or_equal_and_asks_for_the_rows_to_skip(
    standin: KustoStandIn, tmp_path: Path
):
    standin.add_rows([event("a"), event("b"), event("c")], ingestion_time=T)
    source = eventhouse_source(standin, tmp_path, batch_size=2)
    drain(source)

    first, second = standin.queries[:2]
    assert "strcmp(cursor_key, last_key) >= 0" in first.csl
    assert "| take 2" in first.csl and "| take 3" in second.csl  # 2 new + the 1 published at b
    assert second.parameters == {"last_key": "b"}


def test_exact_duplicates_split_by_page_boundaries_are_all_published_once(
    standin: KustoStandIn, tmp_path: Path
):
    standin.add_rows([event(k) for k in ("a", "b", "b", "b", "b", "b", "c")], ingestion_time=T)

    published = drain(eventhouse_source(standin, tmp_path, batch_size=2))

    assert published == ["a", "b", "b", "b", "b", "b", "c"]


def test_a_restart_at_a_boundary_inside_duplicates_neither_skips_nor_repeats(
    standin: KustoStandIn, tmp_path: Path
):
    standin.add_rows([event(k) for k in ("a", "b", "b", "b", "c")], ingestion_time=T)
    first = eventhouse_source(standin, tmp_path, batch_size=3)
    outputs, _ = first.poll()
    stored = first.acknowledged()
    first.close()  # stopped after one page: a, b, b

    assert stored is not None
    restarted = eventhouse_source(standin, tmp_path, 3, position=Position.from_state(stored))

    assert keys(outputs) + drain(restarted) == ["a", "b", "b", "b", "c"]


def source_rows(*specs: tuple[str, str]) -> list[SourceRow]:
    """Rows at T with key "k" that differ only in a column the key leaves out."""
    return [SourceRow(T, key, {"id": key, "eventId": extra}) for key, extra in specs]


def test_rows_differing_outside_the_key_are_each_published_once_whatever_their_order():
    r1, r2, r3, r4, r5 = source_rows(*(("k", f"e{i}") for i in range(1, 6)))
    start = Position(tick_before(datetime(2026, 2, 3, tzinfo=UTC)), "")

    page1, after1 = unpublished([r1, r2], start)
    page2, after2 = unpublished([r3, r1, r5, r2], after1)  # the server may order ties anew
    page3, after3 = unpublished([r2, r4, r1, r3, r5], after2)

    published = [row.values["eventId"] for row in [*page1, *page2, *page3]]
    assert Counter(published) == Counter(["e1", "e2", "e3", "e4", "e5"])
    assert after1.at == after3.at == (T, "k") and len(after3.emitted) == 5


def test_the_position_forgets_published_rows_once_it_moves_on():
    (a,) = source_rows(("a", "x"))
    b, b_again = source_rows(("b", "x"), ("b", "x"))

    _, after = unpublished([a, b], Position(T, "a", (a.fingerprint,)))
    fresh, later = unpublished([b, b_again], after)

    assert after == Position(T, "b", (b.fingerprint,))
    assert fresh == [b_again] and later.emitted == (b.fingerprint, b.fingerprint)


def test_settle_seconds_keep_the_newest_rows_for_a_later_cycle(
    standin: KustoStandIn, tmp_path: Path
):
    standin.add_rows([event("old")], ingestion_time=T)
    standin.add_rows([event("new")], ingestion_time=datetime.now(UTC) - timedelta(seconds=2))

    settled, _ = eventhouse_source(standin, tmp_path, settle_s=60).poll()
    unsettled, _ = eventhouse_source(standin, tmp_path, settle_s=0).poll()

    assert keys(settled) == ["old"]
    assert keys(unsettled) == ["old", "new"]


def test_a_time_column_is_read_at_full_precision_and_published_as_text(tmp_path: Path):
    table = EventhouseTable("Events", "strcat(tostring(id),'|',kind)", "IngestionTime")
    with KustoStandIn(key_column=None, time_column="IngestionTime") as standin:
        standin.add_rows([event("a", IngestionTime="2026-02-03T09:40:07.1234567Z")])
        reader = EventhouseReader(standin.client, None, "vpipe", table, 10, 30)
        rows, full = reader.page(EARLY, ingestion_time(datetime.now(UTC)))
        reader.close()

    assert not full
    assert rows[0].at == ("2026-02-03T09:40:07.1234567Z", "a|test")
    assert rows[0].values["IngestionTime"] == rows[0].values["ingestion_time"] == rows[0].at[0]
    assert "| extend ingestion_time = IngestionTime" in standin.queries[0].csl


class FakeCredential:
    def __init__(self) -> None:
        self.invalidated = 0

    def invalidate(self) -> None:
        self.invalidated += 1


def test_an_auth_error_refreshes_the_credential_once_then_counts_as_a_failure(
    standin: KustoStandIn,
):
    standin.add_rows([event("a")], ingestion_time=T)
    credential = FakeCredential()
    connections: list[Any] = []

    def connect() -> Any:
        connections.append(standin.client())
        return connections[-1]

    reader = EventhouseReader(connect, credential, "vpipe", TABLE, 10, 30)  # type: ignore[arg-type]
    upper = ingestion_time(datetime.now(UTC))
    standin.fail_next(1, status=401)
    rows, _ = reader.page(EARLY, upper)
    assert [row.values["id"] for row in rows] == ["a"]
    assert credential.invalidated == 1 and len(connections) == 2

    standin.fail_next(2, status=401)
    with pytest.raises(KustoServiceError, match="401"):
        reader.page(EARLY, upper)
    assert credential.invalidated == 2
    reader.close()


# --- proxy and CA bundle ------------------------------------------------------------------------


class RecordingProxy(BaseHTTPRequestHandler):
    seen: list[str] = []

    def do_POST(self) -> None:
        RecordingProxy.seen.append(self.path)
        self.send_response(503)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *_: Any) -> None:
        pass


@pytest.fixture
def proxy_url() -> Iterator[str]:
    RecordingProxy.seen = []
    proxy = ThreadingHTTPServer(("127.0.0.1", 0), RecordingProxy)
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{proxy.server_address[1]}"
    proxy.shutdown()
    proxy.server_close()


def test_an_explicit_proxy_carries_the_queries(standin: KustoStandIn, proxy_url: str):
    client = kusto_client(standin.url, "vpipe", None, proxy_url)
    reader = EventhouseReader(lambda: client, None, "vpipe", TABLE, 10, 30)
    with pytest.raises(KustoServiceError):
        reader.page(EARLY, ingestion_time(datetime.now(UTC)))

    assert RecordingProxy.seen == [f"{standin.url}/v2/rest/query"]
    assert standin.queries == []


def test_the_worker_environment_proxy_applies_unless_no_proxy_covers_the_cluster(
    standin: KustoStandIn,
    proxy_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    cursor_kafka: str,
):
    standin.add_rows([event("a")], ingestion_time=T)
    dom = domain(cluster_url=standin.url)
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")  # the process env is not consulted

    proxied = leased(build_source(context(tmp_path, cursor_kafka, HTTP_PROXY=proxy_url), dom))
    with pytest.raises(KustoServiceError):
        proxied.poll()
    proxied.close()  # type: ignore[attr-defined]
    env = {"HTTP_PROXY": proxy_url, "NO_PROXY": "127.0.0.1"}
    direct = leased(build_source(context(tmp_path, cursor_kafka, **env), dom))
    outputs, _ = direct.poll()
    direct.close()  # type: ignore[attr-defined]

    assert RecordingProxy.seen == [f"{standin.url}/v2/rest/query"]
    assert keys(outputs) == ["a"]


class StaticToken:
    """A token credential for https (the SDK sends no-auth requests over plain http only)."""

    def get_token(self, *_scopes: str, **_options: Any) -> AccessToken:
        return AccessToken("token", int(datetime.now(UTC).timestamp()) + 3600)

    def close(self) -> None:
        pass


def test_the_ca_bundle_is_what_the_client_trusts(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/nonexistent/ca.pem")  # must not override
    upper = ingestion_time(datetime.now(UTC))
    token: Any = StaticToken()
    with KustoStandIn(key_column="id", tls=True) as standin:
        standin.add_rows([event("over-tls")], ingestion_time=T)
        assert standin.url.startswith("https://") and standin.ca_file is not None
        trusted = EventhouseReader(
            lambda: kusto_client(standin.url, "vpipe", token, None, standin.ca_file),
            None,
            "vpipe",
            TABLE,
            10,
            30,
        )
        rows, _ = trusted.page(EARLY, upper)
        untrusted = EventhouseReader(
            lambda: kusto_client(standin.url, "vpipe", token, None), None, "vpipe", TABLE, 10, 30
        )
        with pytest.raises(KustoServiceError, match="network request") as refused:
            untrusted.page(EARLY, upper)
        trusted.close()
        untrusted.close()

    assert [row.values["id"] for row in rows] == ["over-tls"]
    assert "CERTIFICATE_VERIFY_FAILED" in str(refused.value.__cause__)


def test_plain_http_needs_eventhouse_auth_none_whatever_the_host():
    from vpipe_core.config.loader import load_settings

    def problems(url: str, **env: str) -> list[str]:
        return eventhouse_problems(domain(cluster_url=url), load_settings(EventSourceSettings, env))

    assert problems("https://kusto.example") == []
    for url in ("http://127.0.0.1:8080", "http://kusto.example"):
        [refused] = problems(url)
        assert "expected an https:// URL" in refused and "EVENTHOUSE_AUTH=none" in refused
        assert problems(url, EVENTHOUSE_AUTH="none") == []


# --- backfill -----------------------------------------------------------------------------------


def test_a_backfill_window_parses_both_ends_and_names_the_wrong_one():
    window = BackfillWindow.parse("2026-02-03T10:22:41.5093318Z", "2026-02-04")
    assert window == BackfillWindow("2026-02-03T10:22:41.5093318Z", "2026-02-04T00:00:00.0000000Z")
    assert window.cursor_suffix == ".backfill-20260203T102241.5093318Z-20260204T000000.0000000Z"
    with pytest.raises(ValueError, match="--backfill-to: got 'soon'"):
        BackfillWindow.parse("2026-02-03", "soon")
    with pytest.raises(ValueError, match=r"ends .* before it starts"):
        BackfillWindow.parse("2026-02-04", "2026-02-03")


def test_a_backfill_reads_its_closed_window_with_its_own_cursor_and_finishes(
    standin: KustoStandIn, tmp_path: Path, cursor_kafka: str
):
    times = {
        "before": "2026-02-02T23:59:59.9999999Z",
        "first": "2026-02-03T00:00:00.0000000Z",
        "middle": "2026-02-03T12:00:00.0000000Z",
        "last": "2026-02-03T23:59:59.9999999Z",
        "after": "2026-02-04T00:00:00.0000000Z",
    }
    for key, when in times.items():
        standin.add_rows([event(key), event(key)], ingestion_time=when)
    window = BackfillWindow.parse("2026-02-03T00:00:00Z", "2026-02-03T23:59:59.9999999Z")

    dom = domain(cluster_url=standin.url, batch_size=2)
    ctx = context(tmp_path, cursor_kafka, window)
    source = leased(build_source(ctx, dom))
    published = drain(source)
    source.close()  # type: ignore[attr-defined]
    again = leased(build_source(context(tmp_path, cursor_kafka, window), dom))
    rerun = drain(again)
    again.close()  # type: ignore[attr-defined]

    assert published == ["first", "first", "middle", "middle", "last", "last"]
    assert getattr(source, "finished", False) and rerun == []
    live = CursorStore(common_config(ctx.settings), ctx.spec.name, "", tmp_path / "none")
    backfill = CursorStore(
        common_config(ctx.settings), f"{ctx.spec.name}{window.cursor_suffix}", "", tmp_path / "none"
    )
    stored = backfill.load()
    assert live.load() is None, "the live cursor is never touched"
    assert stored is not None and stored.state["ingestion_time"] == times["last"]


def test_a_live_source_is_never_finished(standin: KustoStandIn, tmp_path: Path, cursor_kafka: str):
    standin.add_rows([event("a")], ingestion_time=T)
    source = leased(build_source(context(tmp_path, cursor_kafka), domain(cluster_url=standin.url)))
    assert drain(source) == ["a"]
    assert not getattr(source, "finished", False)
    source.close()  # type: ignore[attr-defined]


# --- sample pacing ------------------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_the_sample_source_paces_and_renames_ids_per_round(tmp_path: Path):
    rows = [SampleRow(line, event(f"s{line}")) for line in (1, 3)]  # line 2 was blank
    clock = Clock()
    source = SampleSource(rows, ReplayPosition(1, 0), 120, domain(), clock=clock)

    first, _ = source.poll()
    source.acknowledged()
    clock.now = 0.4
    nothing, _ = source.poll()  # 0.8 of an event earned: wait
    clock.now = 1.5
    later, more = source.poll()  # 0.8 + 1.1 s at 2/s = 3 events
    stored = source.acknowledged()

    assert keys([*first, *later]) == ["s1", "s3", "s1-r2", "s3-r2"] and not nothing and not more
    assert source.position == ReplayPosition(2, 3)
    assert stored == {"round": 2, "line": 3}
    assert all(len(orjson.loads(o.value)["ingestion_time"]) == 28 for o in [*first, *later])
