"""The iTel trigger through the real claimx-enricher handler against the fake ClaimX API
(claimx.md §12, §14: "the iTel trigger publishes for fixture rows 8 and 9")."""

from __future__ import annotations

import logging
from pathlib import Path

import orjson
import pytest
from claimx_itel_trigger import specs
from itel_support import NOW, PLUGIN, TRACKING, make_enricher, outputs_on, records, task_of

from vpipe_claimx.topics import DOWNLOADS, ENTITIES
from vpipe_core.plugins.plugin_set import PluginLoadError
from vpipe_core.registry import load_worker


def test_publishes_for_fixture_rows_8_and_9(fake, load_plugin):
    enricher = make_enricher(fake, load_plugin())
    tasks = [task_of(8), task_of(9), task_of(4), task_of(1)]
    outcomes = enricher.handle_batch(records(tasks))

    for task, outcome in zip(tasks[:2], outcomes[:2], strict=True):
        (published,) = outputs_on(outcome, TRACKING)
        assert published.key == task["event_id"].encode()
        assert dict(published.headers) == {
            "x-trigger-name": b"itel_cabinet_repair",
            "x-task-id": b"27019",
            "x-event-type": task["event_type"].encode(),
        }
        payload = orjson.loads(published.value)
        task_row, project_row = payload.pop("task"), payload.pop("project")
        assert payload == {
            "trigger_name": "itel_cabinet_repair",
            "event_id": task["event_id"],
            "event_type": task["event_type"],
            "project_id": "5517342",
            "task_id": 27019,
            "assignment_id": 6021187,
            "task_name": "iTel Cabinet Repair Form",
            "task_status": "COMPLETED",  # E3 answers the assignment's current status
            "timestamp": NOW.isoformat(),
        }
        assert task_row["assignment_id"] == 6021187 and task_row["form_id"]
        assert project_row["project_number"] == "NW-2026-00418"
        assert outputs_on(outcome, ENTITIES), "entity rows are still produced"
    assert [task["event_type"] for task in tasks[:2]] == [
        "CUSTOM_TASK_ASSIGNED",
        "CUSTOM_TASK_COMPLETED",
    ]
    assert outputs_on(outcomes[2], TRACKING) == [] and outputs_on(outcomes[2], DOWNLOADS)
    assert outputs_on(outcomes[3], TRACKING) == []


def test_logs_the_configured_line(fake, load_plugin, caplog):
    enricher = make_enricher(fake, load_plugin())
    with caplog.at_level(logging.INFO, logger="vpipe.plugins"):
        enricher.handle_batch(records([task_of(9)]))
    lines = [r.getMessage() for r in caplog.records if r.name == "vpipe.plugins"]
    event_id = task_of(9)["event_id"]
    assert (
        f"{PLUGIN}: iTel cabinet task COMPLETED: event {event_id}, task 27019, "
        "assignment 6021187" in lines
    )


def test_a_template_id_not_configured_publishes_nothing(fake, load_plugin):
    enricher = make_enricher(fake, load_plugin("[config]\ntask_ids = [32513]\n"))
    outcomes = enricher.handle_batch(records([task_of(8), task_of(9)]))
    assert [outputs_on(outcome, TRACKING) for outcome in outcomes] == [[], []]
    assert all(outputs_on(outcome, ENTITIES) for outcome in outcomes)


def test_configured_ids_and_name(fake, load_plugin):
    config = '[config]\ntask_ids = [32513, 27019]\ntrigger_name = "itel_test"\n'
    enricher = make_enricher(fake, load_plugin(config))
    (outcome,) = enricher.handle_batch(records([task_of(9)]))
    (published,) = outputs_on(outcome, TRACKING)
    assert ("x-trigger-name", b"itel_test") in published.headers
    assert orjson.loads(published.value)["trigger_name"] == "itel_test"


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ("[config]\ntask_ids = []\n", "at least one task template id"),
        ("[config]\ntask_ids = [0]\n", "positive template ids"),
        ('[config]\nlog = "{event_id} {claim_number}"\n', "unknown field(s) ['claim_number']"),
        ("[config]\ntask_id = [27019]\n", "task_id"),
        ('[config]\ntrigger_name = " "\n', "must not be empty"),
    ],
)
def test_a_bad_config_stops_the_plugin_loading(load_plugin, config, message):
    with pytest.raises(PluginLoadError) as raised:
        load_plugin(config)
    assert message in str(raised.value) and PLUGIN in str(raised.value)


def test_declares_its_topic_and_companion_worker(load_plugin):
    plugin_set = load_plugin()
    assert plugin_set.topics() == [TRACKING]
    assert plugin_set.companion_workers() == [specs.tracking_worker]
    worker = load_worker("itel-cabinet-tracking")
    assert worker == specs.tracking_worker, "the vpipe.workers entry point is the same spec"
    assert worker.input_topics == (TRACKING,) and worker.domain == "claimx"
    assert set(worker.port_range) <= set(range(8300, 9000))


def test_the_shipped_config_file_loads(load_plugin):
    shipped = Path(__file__).parents[1] / "claimx_itel_trigger.toml"
    (plugin,) = load_plugin(shipped.read_text()).plugins
    assert plugin.config.task_ids == (27019,)
