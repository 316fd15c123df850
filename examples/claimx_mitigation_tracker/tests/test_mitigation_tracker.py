"""The mitigation tracker through the real claimx-enricher handler against the fake ClaimX API."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from mitigation_support import (
    FIRE,
    FIRE_MEDIA_ID,
    NOW,
    PLUGIN,
    TOPIC,
    WATER,
    make_enricher,
    outputs_on,
    records,
    task_event,
)

from vpipe_claimx.topics import ENTITIES
from vpipe_core.plugins.plugin_set import PluginLoadError
from vpipe_testing.claimx.fake_api import Fault


def published(outcome: object, topic: str = TOPIC) -> dict:
    (output,) = outputs_on(outcome, topic)
    return orjson.loads(output.value)


def test_a_completed_water_mitigation_task_publishes_the_flat_record(fake, load_plugin):
    task = task_event(WATER)
    (outcome,) = make_enricher(fake, load_plugin()).handle_batch(records([task]))
    (output,) = outputs_on(outcome, TOPIC)
    assert output.key == task["event_id"].encode()
    record = orjson.loads(output.value)
    media = record.pop("media")
    assert record == {
        "event_id": task["event_id"],
        "assignment_id": 7100001,
        "project_id": "5517342",
        "task_id": 25367,
        "task_name": "Water Mitigation",
        "status": "COMPLETED",
        "master_filename": "HOCL_8K2P4Q",
        "type_of_loss": "Water",
        "claim_number": "NW-2026-00418",
        "policy_number": "POL-552190-03",
        "date_assigned": "2026-02-03T15:10:40Z",
        "date_completed": "2026-02-04T09:26:05Z",
        "ingested_at": task["ingested_at"],
        "published_at": NOW.isoformat(),
        "source": "vpipe.claimx-enricher",
    }
    assert [m["media_id"] for m in media] == ["98810467", "98810452"], "form order"
    assert all(m["download_link"].startswith(fake.origin) for m in media)
    assert media[0]["description"] == "Cabinet toe kick, second phone"
    e2 = [r for r in fake.requests if r.path.endswith("/media")]
    assert [r.query.get("mediaIds") for r in e2] == ["98810467,98810452"]
    assert outputs_on(outcome, ENTITIES), "entity rows are still produced"


def test_fire_smoke_media_are_found_by_description(fake, load_plugin):
    (outcome,) = make_enricher(fake, load_plugin()).handle_batch(records([task_event(FIRE)]))
    record = published(outcome)
    assert (record["task_id"], record["task_name"]) == (24454, "Fire/Smoke Mitigation")
    assert [m["media_id"] for m in record["media"]] == [str(FIRE_MEDIA_ID)]


def test_other_templates_and_assigned_tasks_publish_nothing(fake, load_plugin):
    tasks = [task_event("6021187"), task_event(WATER, completed=False)]
    outcomes = make_enricher(fake, load_plugin()).handle_batch(records(tasks))
    assert [outputs_on(outcome, TOPIC) for outcome in outcomes] == [[], []]
    assert fake.count(r"/media") == 0, "the pre-filter kept the plugin from calling the API"


def test_a_media_outage_still_publishes_the_task(fake, load_plugin):
    fake.inject(r"/media$", Fault.http(503))
    (outcome,) = make_enricher(fake, load_plugin()).handle_batch(records([task_event(WATER)]))
    record = published(outcome)
    assert record["media"] == [] and record["assignment_id"] == 7100001
    assert record["media_error"].startswith("E2: ") and "503" in record["media_error"]


def test_configured_topic_and_source(fake, load_plugin):
    plugins = load_plugin('[config]\ntopic = "mitigation.test"\nsource = "unit-test"\n')
    assert plugins.topics() == ["mitigation.test"]
    (outcome,) = make_enricher(fake, plugins).handle_batch(records([task_event(WATER)]))
    assert published(outcome, "mitigation.test")["source"] == "unit-test"


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ('[config]\ntopic = "bad topic"\n', "not a valid Kafka topic name"),
        ('[config]\nsource = ""\n', "must not be empty"),
        ('[config]\ntopics = "x"\n', "topics"),
    ],
)
def test_a_bad_config_stops_the_plugin_loading(load_plugin, config, message):
    with pytest.raises(PluginLoadError) as raised:
        load_plugin(config)
    assert message in str(raised.value) and PLUGIN in str(raised.value)


def test_the_shipped_config_file_loads(load_plugin):
    shipped = Path(__file__).parents[1] / "claimx_mitigation_tracker.toml"
    (plugin,) = load_plugin(shipped.read_text()).plugins
    assert plugin.config.topic == TOPIC
