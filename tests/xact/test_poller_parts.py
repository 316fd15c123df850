"""The XACT poller's own parts in-process: how its settings describe the shared sources and how
a row or an Event Hub record becomes an `xact.events.raw` message. The shared sources are tested
in tests/core/test_eventsource.py; the worker processes in test_poller.py."""

from __future__ import annotations

import orjson
import pytest

from vpipe_core.config.core import CoreSettings
from vpipe_core.config.loader import ConfigError, load_settings
from vpipe_core.context import WorkerContext
from vpipe_core.eventsource.eventhub import consumer_config
from vpipe_core.eventsource.settings import EventSourceSettings
from vpipe_core.registry import load_worker
from vpipe_xact.poller import POLLER, raw_event, republished
from vpipe_xact.settings import XactSettings

T = "2026-02-03T09:40:07.1200000Z"


def test_the_xact_source_pages_by_trace_id_after_the_ingestion_time():
    source = POLLER.source(
        load_settings(XactSettings, {"XACT_EVENTHOUSE_SOURCE_TABLE": "XactEvents"})
    )

    assert source.topic == "xact.events.raw" and source.event_source is None
    assert source.eventhouse.table.name == "XactEvents"
    assert source.eventhouse.table.cursor_key == (
        'coalesce(tostring(traceId), tostring(column_ifexists("trace_id", "")))'
    )
    assert source.eventhouse.table.time_column is None  # ingestion_time()
    assert source.sample_file == POLLER.bundled_events_file() and source.sample_file.exists()
    assert source.replay_id_fields == ("traceId", "trace_id")


def test_a_row_is_keyed_and_headed_by_its_trace_id():
    output = raw_event({"traceId": 42, "type": "t", "ingestion_time": T})
    anonymous = raw_event({"type": "t", "ingestion_time": T})

    assert output.key == b"42" and output.headers == [("trace_id", b"42")]
    assert orjson.loads(output.value) == {"traceId": 42, "type": "t", "ingestion_time": T}
    assert anonymous.key is None and not anonymous.headers


def test_an_event_hub_record_takes_its_ingestion_time_from_the_record_timestamp():
    output = republished({"traceId": "eh-1"}, 1770111607120)

    assert orjson.loads(output.value) == {"traceId": "eh-1", "ingestion_time": T}
    assert len(orjson.loads(republished({"traceId": "x"}, None).value)["ingestion_time"]) == 28


# --- Event Hub client settings ------------------------------------------------------------------


def config(**env: str) -> dict:
    ctx = WorkerContext(load_worker("xact-poller"), 1, "g", CoreSettings(), env, None)  # type: ignore[arg-type]
    domain = POLLER.source(load_settings(XactSettings, env))
    return consumer_config(ctx, domain, load_settings(EventSourceSettings, env))


def test_event_hub_connection_string_auth_uses_sasl_plain():
    settings = config(
        EVENTHUB_BOOTSTRAP_SERVERS="ns.servicebus.windows.net:9093",
        XACT_EVENTHUB_NAME="xact-events",
        EVENTHUB_CONNECTION_STRING="Endpoint=sb://ns/;SharedAccessKey=x",
    )

    assert settings["security.protocol"] == "SASL_SSL"
    assert settings["sasl.mechanism"] == "PLAIN"
    assert settings["sasl.username"] == "$ConnectionString"
    assert settings["group.id"] == "xact-poller" and settings["auto.offset.reset"] == "latest"
    assert settings["enable.auto.commit"] is False


def test_event_hub_settings_missing_are_named():
    with pytest.raises(ConfigError) as raised:
        config(EVENTHUB_AUTH="connection-string")

    text = str(raised.value)
    for name in ("EVENTHUB_BOOTSTRAP_SERVERS", "XACT_EVENTHUB_NAME", "EVENTHUB_CONNECTION_STRING"):
        assert f"{name}: required" in text
    assert "the XACT event source is eventhub" in text


def test_event_hub_aad_auth_asks_the_shared_credential_for_the_namespace_scope(monkeypatch):
    asked: list[str] = []

    class Token:
        token, expires_on = "tok", 1_800_000_000

    class Credential:
        def get_token(self, scope: str) -> Token:
            asked.append(scope)
            return Token()

    monkeypatch.setattr("vpipe_core.azure_auth.shared_credential", lambda env: Credential())
    settings = config(
        EVENTHUB_BOOTSTRAP_SERVERS="ns.servicebus.windows.net:9093",
        XACT_EVENTHUB_NAME="xact-events",
        EVENTHUB_AUTH="aad",
        XACT_EVENTHUB_CONSUMER_GROUP="poller-group",
    )

    assert settings["sasl.mechanism"] == "OAUTHBEARER" and settings["group.id"] == "poller-group"
    assert settings["oauth_cb"]("") == ("tok", 1_800_000_000.0)
    assert asked == ["https://ns.servicebus.windows.net/.default"]
