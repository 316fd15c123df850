"""Matching, the published notification and its headers, and the log template."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
import xact_status_trigger.plugin
from status_trigger_support import EVENT_ID, PLUGIN, TRACE_ID, xact_context

from vpipe_core.outcome import Output
from vpipe_core.plugins.manager import plugin_set_from_objects
from vpipe_core.plugins.plugin_set import PluginSet

Loader = Callable[..., PluginSet]
NOW = datetime(2026, 2, 3, 9, 2, 15, 123456, tzinfo=UTC)

TRIGGERS = """
[[config.triggers]]
status = "estimateCreated"
publish_to_topic = "xact.notifications.estimate-created"

[[config.triggers]]
status = "paymentProcessorAssigned"
publish_to_topic = "xact.notifications.payment-processor-assigned"

[[config.triggers]]
status = "*"
publish_to_topic = "xact.notifications.all"
"""


@pytest.fixture
def plugin_set(load_with_config: Loader) -> PluginSet:
    return load_with_config(TRIGGERS, strict=True)


def published(plugin_set: PluginSet, status: str, **overrides: Any) -> list[Output]:
    result = plugin_set.run(xact_context(status, **overrides))
    assert [(run.plugin, run.result) for run in result.runs] == [(PLUGIN, "ok")]
    assert not result.filtered, "the status trigger never stops downloads"
    return result.outputs


def test_a_matching_status_publishes_to_its_topic_and_star_matches_every_status(
    plugin_set: PluginSet,
) -> None:
    assert [o.topic for o in published(plugin_set, "estimateCreated")] == [
        "xact.notifications.estimate-created",
        "xact.notifications.all",
    ]
    assert [o.topic for o in published(plugin_set, "delivered")] == ["xact.notifications.all"]


def test_status_is_matched_exactly(load_with_config: Loader) -> None:
    plugin_set = load_with_config(
        '[[config.triggers]]\nstatus = "estimateCreated"\npublish_to_topic = "t.x"\n'
    )
    assert published(plugin_set, "estimatecreated") == []
    assert published(plugin_set, "estimateCreatedLater") == []
    assert len(published(plugin_set, "estimateCreated")) == 1


def test_other_domains_and_stages_are_not_seen(plugin_set: PluginSet) -> None:
    assert plugin_set.run(xact_context(domain="claimx")).runs == []
    assert plugin_set.run(xact_context(stage="download_complete")).runs == []


def test_the_notification_payload_key_and_headers(plugin_set: PluginSet) -> None:
    [output, _] = published(plugin_set, "estimateCreated", now=NOW)
    assert output.key == EVENT_ID.encode()
    assert output.headers == [
        ("x-plugin-name", b"xact_status_trigger"),
        ("x-status", b"estimateCreated"),
        ("x-event-type", b"estimateCreated"),
        ("trace_id", TRACE_ID.encode()),
    ]
    assert orjson.loads(output.value or b"") == {
        "event_id": EVENT_ID,
        "trace_id": TRACE_ID,
        "event_type": "estimateCreated",
        "status_subtype": "estimateCreated",
        "assignment_id": "H2N8V6P",
        "estimate_version": "3",
        "attachment_count": 1,  # accepted URLs (extras), not the task's raw list of 2
        "timestamp": "2026-02-03T09:02:11.350000Z",
        "domain": "xact",
        "stage": "enrichment_complete",
        "metadata": {
            "plugin_name": "xact_status_trigger",
            "plugin_version": "1.0.0",
            "triggered_at": "2026-02-03T09:02:15.123456Z",
        },
    }


def test_fields_fall_back_to_the_task_and_missing_ones_are_null(plugin_set: PluginSet) -> None:
    [from_task, _] = published(plugin_set, "estimateCreated", extras={})
    payload = orjson.loads(from_task.value or b"")
    assert (payload["trace_id"], payload["assignment_id"], payload["attachment_count"]) == (
        TRACE_ID,
        "H2N8V6P",
        2,
    )
    [bare] = published(plugin_set, "documentsReceived", task={}, extras={"assignment_id": 4471982})
    payload = orjson.loads(bare.value or b"")
    assert payload["status_subtype"] == "documentsReceived", "taken from event_type"
    assert payload["assignment_id"] == "4471982", "ids are strings"
    assert payload["trace_id"] is None
    assert [name for name, _ in bare.headers] == ["x-plugin-name", "x-status", "x-event-type"]
    assert payload["estimate_version"] is None
    assert payload["timestamp"] is None
    assert payload["attachment_count"] == 0


@pytest.fixture
def plugin_logs(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    with caplog.at_level(logging.INFO, logger="vpipe.plugins"):
        yield caplog


def test_log_template_is_rendered_with_the_event_fields(
    load_with_config: Loader, plugin_logs: pytest.LogCaptureFixture
) -> None:
    plugin_set = load_with_config(
        '[[config.triggers]]\nstatus = "estimateCreated"\n'
        'log = "{status}: assignment {assignment_id}, event {event_id}, trace {trace_id}"\n'
        '[[config.triggers]]\nstatus = "*"\nlog = "seen {event_id}"\n'
    )
    assert published(plugin_set, "estimateCreated") == []
    assert (
        f"{PLUGIN}: estimateCreated: assignment H2N8V6P, event {EVENT_ID}, trace {TRACE_ID}; "
        f"seen {EVENT_ID}"
    ) in plugin_logs.messages


def test_log_values_are_not_read_as_templates(
    load_with_config: Loader, plugin_logs: pytest.LogCaptureFixture
) -> None:
    plugin_set = load_with_config('[[config.triggers]]\nstatus = "*"\nlog = "a={assignment_id}"\n')
    plugin_set.run(xact_context(extras={"assignment_id": "{event_id}"}))
    plugin_set.run(xact_context(extras={}, task={}))
    assert f"{PLUGIN}: a={{event_id}}" in plugin_logs.messages
    assert f"{PLUGIN}: a=-" in plugin_logs.messages


def test_the_module_can_be_tested_without_installing_it() -> None:
    """`plugin_set_from_objects` runs the same checks as loading through the entry point."""
    with plugin_set_from_objects({PLUGIN: xact_status_trigger.plugin}) as plugin_set:
        assert [p.name for p in plugin_set.plugins] == [PLUGIN]
        assert plugin_set.run(xact_context()).outputs == []  # no config: no triggers
