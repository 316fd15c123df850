"""The poller's parts in-process: times, cursor file, Eventhouse paging, sample pacing, Event Hub
client settings. The worker processes are exercised in test_poller.py."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from azure.kusto.data.exceptions import KustoServiceError

from vpipe_core.config.core import CoreSettings
from vpipe_core.config.loader import ConfigError, load_settings
from vpipe_core.context import WorkerContext
from vpipe_core.registry import load_worker
from vpipe_core.runner import StartupError
from vpipe_core.testing.kusto import KustoStandIn
from vpipe_xact.cursor import CursorError, CursorFile, stored_position
from vpipe_xact.eventhouse import EventhouseReader, Position, is_loopback, kusto_client
from vpipe_xact.eventhub import consumer_config
from vpipe_xact.ingestion_times import from_epoch_ms, ingestion_time, parse_iso, tick_before
from vpipe_xact.poller import EventhouseSource
from vpipe_xact.sample import ReplayPosition, SampleRow, SampleSource
from vpipe_xact.settings import XactSettings

T = "2026-02-03T09:40:07.1200000Z"
EARLY = Position("2026-02-01T00:00:00.0000000Z", "")


def event(trace_id: str) -> dict[str, Any]:
    return {"type": "verisk.claims.property.xn.status.accepted", "traceId": trace_id}


# --- ingestion times ----------------------------------------------------------------------------


def test_ingestion_times_keep_seven_digits():
    moment = datetime(2026, 2, 3, 9, 40, 7, 120000, tzinfo=UTC)
    assert ingestion_time(moment) == T
    assert tick_before(moment) == "2026-02-03T09:40:07.1199999Z"
    assert from_epoch_ms(1770111607120) == T
    assert parse_iso("2026-02-03T10:40:07.12000009+01:00") == moment
    assert parse_iso("2026-02-03T09:40:07.12") == moment  # naive is UTC
    with pytest.raises(ValueError):
        parse_iso("yesterday")


# --- the cursor file ----------------------------------------------------------------------------


def test_cursor_file_writes_atomically_and_reads_back(tmp_path: Path):
    cursor = CursorFile(tmp_path / "state" / "p.cursor.json", "the start")
    cursor.lock()
    cursor.write({"ingestion_time": T, "cursor_key": "k"})
    cursor.write({"ingestion_time": T, "cursor_key": "k2"})

    state = cursor.read()
    assert state is not None and state["cursor_key"] == "k2" and state["updated_at"].endswith("Z")
    assert sorted(p.name for p in cursor.path.parent.iterdir()) == [
        "p.cursor.json",
        "p.cursor.json.lock",
    ]
    cursor.close()


def test_a_second_poller_cannot_take_the_lock(tmp_path: Path):
    first = CursorFile(tmp_path / "p.cursor.json", "the start")
    second = CursorFile(tmp_path / "p.cursor.json", "the start")
    first.lock()

    with pytest.raises(CursorError, match=r"another poller holds .*p.cursor.json.lock \(pid \d+"):
        second.lock()
    first.close()
    second.lock()  # free again once the first lets go
    second.close()


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("{", "not JSON"),
        ("[]", "expected a JSON object"),
        ('{"cursor_key": "k"}', "KeyError"),
        ('{"ingestion_time": "2026-02-03T09:40:07Z", "cursor_key": "k"}', "7-digit"),
        (f'{{"ingestion_time": "{T}", "cursor_key": 7}}', "TypeError"),
    ],
)
def test_an_unusable_cursor_is_a_startup_error_never_a_default(
    tmp_path: Path, text: str, reason: str
):
    cursor = CursorFile(tmp_path / "p.cursor.json", "XACT_EVENTHOUSE_START_FROM")
    cursor.path.write_text(text)

    with pytest.raises(StartupError, match=reason) as raised:
        stored_position(cursor, lambda s: Position(s["ingestion_time"], s["cursor_key"]))
    assert raised.value.code == 2
    assert "is corrupt" in str(raised.value) and "XACT_EVENTHOUSE_START_FROM" in str(raised.value)


# --- Eventhouse paging --------------------------------------------------------------------------


@pytest.fixture
def standin() -> Iterator[KustoStandIn]:
    with KustoStandIn() as server:
        yield server


def eventhouse_source(
    standin: KustoStandIn, tmp_path: Path, batch_size: int = 10, settle_s: float = 0
) -> EventhouseSource:
    reader = EventhouseReader(standin.client, None, "vpipe", "Events", batch_size, 30)
    cursor = CursorFile(tmp_path / "p.cursor.json", "the start")
    return EventhouseSource(reader, cursor, EARLY, 1, settle_s)


def test_the_cursor_moves_only_when_the_page_is_acknowledged(standin: KustoStandIn, tmp_path: Path):
    standin.add_rows([event("a"), event("b"), event("c")], ingestion_time=T)
    source = eventhouse_source(standin, tmp_path, batch_size=2)

    first, more = source.poll()
    again, _ = source.poll()  # the previous page was not acknowledged: read again
    assert more and [o.key for o in first] == [o.key for o in again] == [b"a", b"b"]
    assert not (tmp_path / "p.cursor.json").exists()

    source.acknowledged()
    rest, more = source.poll()
    source.acknowledged()
    assert [o.key for o in rest] == [b"c"] and not more
    assert source.position == Position(T, "c")
    assert json.loads((tmp_path / "p.cursor.json").read_text())["cursor_key"] == "c"
    source.close()


def test_settle_seconds_keep_the_newest_rows_for_a_later_cycle(
    standin: KustoStandIn, tmp_path: Path
):
    standin.add_rows([event("old")], ingestion_time=T)
    standin.add_rows([event("new")], ingestion_time=datetime.now(UTC) - timedelta(seconds=2))

    settled, _ = eventhouse_source(standin, tmp_path, settle_s=60).poll()
    unsettled, _ = eventhouse_source(standin, tmp_path, settle_s=0).poll()

    assert [o.key for o in settled] == [b"old"]
    assert [o.key for o in unsettled] == [b"old", b"new"]


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

    reader = EventhouseReader(connect, credential, "vpipe", "Events", 10, 30)  # type: ignore[arg-type]
    upper = ingestion_time(datetime.now(UTC))
    standin.fail_next(1, status=401)
    assert [row["traceId"] for row in reader.page(EARLY, upper)] == ["a"]
    assert credential.invalidated == 1 and len(connections) == 2

    standin.fail_next(2, status=401)
    with pytest.raises(KustoServiceError, match="401"):
        reader.page(EARLY, upper)
    assert credential.invalidated == 2
    reader.close()


class RecordingProxy(BaseHTTPRequestHandler):
    seen: list[str] = []

    def do_POST(self) -> None:
        RecordingProxy.seen.append(self.path)
        self.send_response(503)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *_: Any) -> None:
        pass


def test_an_explicit_proxy_carries_the_queries(standin: KustoStandIn):
    proxy = ThreadingHTTPServer(("127.0.0.1", 0), RecordingProxy)
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    proxy_url = f"http://127.0.0.1:{proxy.server_address[1]}"
    try:
        client = kusto_client(standin.url, "vpipe", None, proxy_url)
        reader = EventhouseReader(lambda: client, None, "vpipe", "Events", 10, 30)
        with pytest.raises(KustoServiceError):
            reader.page(EARLY, ingestion_time(datetime.now(UTC)))
    finally:
        proxy.shutdown()
        proxy.server_close()
    assert RecordingProxy.seen == [f"{standin.url}/v2/rest/query"]
    assert standin.queries == []


def test_only_plain_http_on_loopback_goes_without_authentication():
    assert is_loopback("http://127.0.0.1:8080") and is_loopback("http://localhost")
    assert not is_loopback("https://127.0.0.1") and not is_loopback("http://kusto.example")


# --- sample pacing ------------------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_the_sample_source_paces_and_renames_trace_ids_per_round(tmp_path: Path):
    rows = [SampleRow(line, event(f"s{line}")) for line in (1, 3)]  # line 2 was blank
    clock = Clock()
    cursor = CursorFile(tmp_path / "s.cursor.json", "the first line")
    source = SampleSource(rows, cursor, ReplayPosition(1, 0), events_per_minute=120, clock=clock)

    first, _ = source.poll()
    source.acknowledged()
    clock.now = 0.4
    nothing, _ = source.poll()  # 0.8 of an event earned: wait
    clock.now = 1.5
    later, more = source.poll()  # 0.8 + 1.1 s at 2/s = 3 events
    source.acknowledged()

    keys = [o.key for o in [*first, *later]]
    assert keys == [b"s1", b"s3", b"s1-r2", b"s3-r2"] and not nothing and not more
    assert source.position == ReplayPosition(2, 3)
    assert json.loads(cursor.path.read_text())["round"] == 2


# --- Event Hub client settings ------------------------------------------------------------------


def context(**env: str) -> tuple[WorkerContext, XactSettings]:
    ctx = WorkerContext(load_worker("xact-poller"), 1, "g", CoreSettings(), env, None)  # type: ignore[arg-type]
    return ctx, load_settings(XactSettings, env)


def test_event_hub_connection_string_auth_uses_sasl_plain():
    ctx, settings = context(
        EVENTHUB_BOOTSTRAP_SERVERS="ns.servicebus.windows.net:9093",
        XACT_EVENTHUB_NAME="xact-events",
        EVENTHUB_CONNECTION_STRING="Endpoint=sb://ns/;SharedAccessKey=x",
    )

    config = consumer_config(ctx, settings)

    assert config["security.protocol"] == "SASL_SSL"
    assert config["sasl.mechanism"] == "PLAIN" and config["sasl.username"] == "$ConnectionString"
    assert config["group.id"] == "xact-poller" and config["auto.offset.reset"] == "latest"
    assert config["enable.auto.commit"] is False


def test_event_hub_settings_missing_are_named():
    ctx, settings = context(EVENTHUB_AUTH="connection-string")

    with pytest.raises(ConfigError) as raised:
        consumer_config(ctx, settings)

    text = str(raised.value)
    for name in ("EVENTHUB_BOOTSTRAP_SERVERS", "XACT_EVENTHUB_NAME", "EVENTHUB_CONNECTION_STRING"):
        assert f"{name}: required" in text


def test_event_hub_aad_auth_asks_the_shared_credential_for_the_namespace_scope(monkeypatch):
    asked: list[str] = []

    class Token:
        token, expires_on = "tok", 1_800_000_000

    class Credential:
        def get_token(self, scope: str) -> Token:
            asked.append(scope)
            return Token()

    monkeypatch.setattr("vpipe_core.azure_auth.shared_credential", lambda env: Credential())
    ctx, settings = context(
        EVENTHUB_BOOTSTRAP_SERVERS="ns.servicebus.windows.net:9093",
        XACT_EVENTHUB_NAME="xact-events",
        EVENTHUB_AUTH="aad",
        XACT_EVENTHUB_CONSUMER_GROUP="poller-group",
    )

    config = consumer_config(ctx, settings)

    assert config["sasl.mechanism"] == "OAUTHBEARER" and config["group.id"] == "poller-group"
    assert config["oauth_cb"]("") == ("tok", 1_800_000_000.0)
    assert asked == ["https://ns.servicebus.windows.net/.default"]
