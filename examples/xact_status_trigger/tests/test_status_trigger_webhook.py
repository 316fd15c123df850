"""Webhooks against a local `http.server`: success, retries on 5xx, and limits that keep a slow or
broken endpoint from costing the event more than its budget (and never its publishes)."""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Callable

import orjson
import pytest
from status_trigger_support import EVENT_ID, PLUGIN, Answer, WebhookReceiver, xact_context
from xact_status_trigger.config import WebhookConfig
from xact_status_trigger.webhook import WebhookSender, loggable_url

from vpipe_core.plugins.execution import StageResult
from vpipe_core.plugins.plugin_set import PluginSet

Loader = Callable[..., PluginSet]
TOPIC = "xact.notifications.estimate-created"


def config_text(url: str, *, budget_s: float = 5.0, **webhook: object) -> str:
    options = "".join(f", {name} = {value}" for name, value in webhook.items())
    return (
        f"[config]\nwebhook_budget_s = {budget_s}\n"
        '[[config.triggers]]\nstatus = "estimateCreated"\n'
        f'publish_to_topic = "{TOPIC}"\n'
        f'webhook = {{ url = "{url}"{options} }}\n'
    )


def run_timed(plugin_set: PluginSet) -> tuple[StageResult, float]:
    started = time.monotonic()
    result = plugin_set.run(xact_context("estimateCreated"))
    return result, time.monotonic() - started


def assert_event_unharmed(result: StageResult) -> None:
    assert [(run.plugin, run.result) for run in result.runs] == [(PLUGIN, "ok")]
    assert [output.topic for output in result.outputs] == [TOPIC]
    assert not result.filtered


def test_success_posts_the_notification_with_its_headers(
    load_with_config: Loader, receiver: WebhookReceiver
) -> None:
    plugin_set = load_with_config(
        config_text(receiver.url(), headers='{ Authorization = "Bearer t0ken" }')
    )
    result, _ = run_timed(plugin_set)

    assert_event_unharmed(result)
    [request] = receiver.requests
    assert request.path == "/hooks/status"
    assert request.headers["content-type"] == "application/json"
    assert request.headers["authorization"] == "Bearer t0ken"
    assert request.headers["x-plugin-name"] == PLUGIN
    assert request.headers["x-status"] == "estimateCreated"
    assert request.headers["x-event-type"] == "estimateCreated"
    assert request.body == result.outputs[0].value, "the same notification as published"
    assert orjson.loads(request.body)["event_id"] == EVENT_ID


def test_a_5xx_is_retried_until_it_succeeds(
    load_with_config: Loader, receiver: WebhookReceiver, caplog: pytest.LogCaptureFixture
) -> None:
    receiver.answer(Answer(500), Answer(503))
    plugin_set = load_with_config(config_text(receiver.url(), retries=2))
    with caplog.at_level(logging.ERROR):
        result, _ = run_timed(plugin_set)
    assert_event_unharmed(result)
    assert len(receiver.requests) == 3
    assert receiver.requests[0].body == receiver.requests[2].body
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_retries_run_out_then_the_failure_is_logged_and_ignored(
    load_with_config: Loader, receiver: WebhookReceiver, caplog: pytest.LogCaptureFixture
) -> None:
    receiver.answer(Answer(502), Answer(502))
    plugin_set = load_with_config(config_text(receiver.url(), retries=1))
    with caplog.at_level(logging.ERROR, logger="vpipe.plugins.xact_status_trigger"):
        result, _ = run_timed(plugin_set)
    assert_event_unharmed(result)
    assert len(receiver.requests) == 2
    [record] = caplog.records
    assert "failed for event" in record.getMessage()
    assert "after 2 attempt(s): answered HTTP 502" in record.getMessage()


def test_a_4xx_is_not_retried(load_with_config: Loader, receiver: WebhookReceiver) -> None:
    receiver.answer(Answer(400))
    plugin_set = load_with_config(config_text(receiver.url(), retries=3))
    result, _ = run_timed(plugin_set)
    assert_event_unharmed(result)
    assert len(receiver.requests) == 1


def test_a_timeout_does_not_break_the_event(
    load_with_config: Loader, receiver: WebhookReceiver, caplog: pytest.LogCaptureFixture
) -> None:
    receiver.answer(Answer(200, delay_s=3.0))
    plugin_set = load_with_config(config_text(receiver.url(), timeout_s=0.3, retries=2))
    with caplog.at_level(logging.ERROR, logger="vpipe.plugins.xact_status_trigger"):
        result, seconds = run_timed(plugin_set)
    assert_event_unharmed(result)
    assert seconds < 1.5, "no retry after a read timeout: the endpoint may have the request"
    assert len(receiver.requests) == 1
    assert "no answer within 0.3s" in caplog.text


def test_the_budget_bounds_all_attempts_of_an_event(
    load_with_config: Loader, receiver: WebhookReceiver
) -> None:
    receiver.answer(*[Answer(503, delay_s=0.4)] * 6)
    plugin_set = load_with_config(
        config_text(receiver.url(), budget_s=1.0, timeout_s=2.0, retries=5)
    )
    result, seconds = run_timed(plugin_set)
    assert_event_unharmed(result)
    assert seconds < 1.6
    assert 1 < len(receiver.requests) < 6


def test_a_refused_connection_is_retried_then_given_up(
    load_with_config: Loader, caplog: pytest.LogCaptureFixture
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed when the block ends: nothing listens there
    plugin_set = load_with_config(config_text(f"http://127.0.0.1:{port}/x", retries=1))
    with caplog.at_level(logging.ERROR, logger="vpipe.plugins.xact_status_trigger"):
        result, _ = run_timed(plugin_set)
    assert_event_unharmed(result)
    assert "after 2 attempt(s): cannot connect" in caplog.text


def test_sender_reports_each_outcome(receiver: WebhookReceiver) -> None:
    sender = WebhookSender(sleep=lambda seconds: None)
    webhook = WebhookConfig(url=receiver.url(), retries=1)
    deadline = time.monotonic() + 5

    ok = sender.post(webhook, b"{}", {}, deadline=deadline, event_id="e1")
    receiver.answer(Answer(500), Answer(500))
    failed = sender.post(webhook, b"{}", {}, deadline=deadline, event_id="e2")
    late = sender.post(webhook, b"{}", {}, deadline=time.monotonic(), event_id="e3")

    assert (ok.ok, ok.attempts, ok.status) == (True, 1, 200)
    assert (failed.ok, failed.attempts, failed.status) == (False, 2, 500)
    assert (late.ok, late.attempts) == (False, 0)
    assert len(receiver.requests) == 3


def test_logged_urls_keep_no_secrets() -> None:
    url = "https://user:pw@hooks.example:8443/status?token=abc#frag"
    assert loggable_url(url) == "https://hooks.example:8443/status"
