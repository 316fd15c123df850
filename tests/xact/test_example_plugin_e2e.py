"""The example plugin, pip-installed into the test environment, found by the real enricher
process through its entry point: its notification record appears on its topic."""

from __future__ import annotations

import shutil
from pathlib import Path

import orjson
from xact_fixtures import fixture_bytes

from vpipe_core.values.timestamps import iso_utc_now
from vpipe_testing.kafka import ensure_topics, produce, read_all
from vpipe_xact.events import parse_event
from vpipe_xact.ingester import enrichment_task

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "xact_status_trigger"


def test_status_trigger_publishes_its_notification(xact_kafka, start_worker, tmp_path):
    config_dir = tmp_path / "plugins"
    config_dir.mkdir()
    shutil.copy(EXAMPLE / "xact_status_trigger.toml", config_dir)
    ensure_topics(xact_kafka, ["xact.notifications.estimate-created"])
    worker = start_worker(
        "xact-enricher",
        xact_kafka,
        VPIPE_PLUGIN_CONFIG_DIR=str(config_dir),
        VPIPE_PLUGINS="xact_status_trigger",
    )
    estimate_created = parse_event(fixture_bytes(4))  # row 4: estimateCreated
    task = enrichment_task(estimate_created, iso_utc_now())
    produce(xact_kafka, "xact.enrichment.pending", [orjson.dumps(task)])

    notes = read_all(xact_kafka, "xact.notifications.estimate-created", expect=1, timeout_s=60)
    note = orjson.loads(notes[0].value())
    assert note["event_id"] == estimate_created.event_id
    assert note["status_subtype"] == "estimateCreated"
    assert note["metadata"]["plugin_name"] == "xact_status_trigger"
    headers = dict(notes[0].headers())
    assert headers["x-plugin-name"] == b"xact_status_trigger"
    assert headers["x-status"] == b"estimateCreated"
    assert notes[0].key() == estimate_created.event_id.encode()
    assert "estimate created: assignment" in worker.output()
