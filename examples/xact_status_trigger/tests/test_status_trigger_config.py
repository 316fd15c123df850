"""Config validation at load, through the plugin's real entry point, and declared topics."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from status_trigger_support import PLUGIN, xact_context
from xact_status_trigger.config import (
    StatusTriggerConfig,
    TriggerConfig,
    WebhookConfig,
    template_problem,
)

from vpipe_core.plugins.manager import declared_plugin_topics
from vpipe_core.plugins.plugin_set import PluginLoadError, PluginSet

EXAMPLE_CONFIG = Path(__file__).parents[1] / f"{PLUGIN}.toml"
EXAMPLE_TOPICS = [
    "xact.notifications.estimate-created",
    "xact.notifications.payment-processor-assigned",
]

Loader = Callable[..., PluginSet]


def test_the_shipped_example_config_loads_and_declares_its_topics(load_with_config: Loader) -> None:
    plugin_set = load_with_config(EXAMPLE_CONFIG.read_text(), strict=True)
    [plugin] = plugin_set.plugins
    assert plugin.info.version == "1.0.0"
    assert plugin.info.domains == ("xact",)
    assert [t.status for t in plugin.config.triggers] == [
        "estimateCreated",
        "paymentProcessorAssigned",
    ]
    assert plugin_set.topics() == EXAMPLE_TOPICS


def test_declared_topics_for_vpipe_topics_create(tmp_path: Path) -> None:
    (tmp_path / f"{PLUGIN}.toml").write_text(EXAMPLE_CONFIG.read_text())
    assert declared_plugin_topics(selected=[PLUGIN], config_dir=tmp_path) == EXAMPLE_TOPICS


def test_without_a_config_file_the_plugin_loads_and_does_nothing(tmp_path: Path) -> None:
    from vpipe_core.plugins.manager import load_plugins

    with load_plugins(selected=[PLUGIN], strict=True, config_dir=tmp_path) as plugin_set:
        assert plugin_set.plugins[0].config == StatusTriggerConfig()
        assert plugin_set.topics() == []
        result = plugin_set.run(xact_context())
    assert [(run.plugin, run.result) for run in result.runs] == [(PLUGIN, "ok")]
    assert result.outputs == []


@pytest.mark.parametrize(
    ("text", "where"),
    [
        # unknown keys, at every level
        ("[config]\ntrigers = []\n", "extra fields found (trigers) @ config"),
        (
            '[[config.triggers]]\nstatus = "x"\nlog = "l"\ncolour = "red"\n',
            "extra fields found (colour) @ config.triggers[0]",
        ),
        (
            '[[config.triggers]]\nstatus = "x"\nwebhook = { url = "http://h/", timeout = 3 }\n',
            "extra fields found (timeout) @ config.triggers[0].webhook",
        ),
        # wrong types are refused, never coerced
        ('[[config.triggers]]\nstatus = 5\nlog = "l"\n', "config.triggers[0].status"),
        ('[config]\ntriggers = "estimateCreated"\n', "config.triggers"),
        (
            '[[config.triggers]]\nstatus = "x"\nwebhook = { url = "http://h/", timeout_s = "3" }\n',
            "config.triggers[0].webhook.timeout_s",
        ),
        (
            '[[config.triggers]]\nstatus = "x"\n'
            'webhook = { url = "http://h/", headers = { a = 1 } }\n',
            "config.triggers[0].webhook.headers['a']",
        ),
        ('[[config.triggers]]\nstatus = "x"\nwebhook = { timeout_s = 1.0 }\n', "required field"),
        # values the plugin's validators refuse
        ('[[config.triggers]]\nstatus = "x"\n', "config.triggers[0]"),
        ('[[config.triggers]]\nstatus = ""\nlog = "l"\n', "config.triggers[0]"),
        ('[[config.triggers]]\nstatus = "x"\nwebhook = { url = "ftp://h/" }\n', "webhook"),
        ('[[config.triggers]]\nstatus = "x"\npublish_to_topic = "a b"\n', "triggers[0]"),
        ('[[config.triggers]]\nstatus = "x"\nlog = "{claim_number}"\n', "triggers[0]"),
        ("[config]\nwebhook_budget_s = 30.0\n", "webhook_budget_s must be above 0"),
    ],
)
def test_bad_config_is_rejected_at_load_naming_the_file_and_the_place(
    load_with_config: Loader, tmp_path: Path, text: str, where: str
) -> None:
    plugin_set = load_with_config(text)
    assert plugin_set.plugins == ()
    [problem] = plugin_set.problems
    assert where in problem.error
    assert str(tmp_path / f"{PLUGIN}.toml") in problem.error
    with pytest.raises(PluginLoadError):
        load_with_config(text, strict=True)


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: TriggerConfig(status="x"), "does nothing"),
        (lambda: TriggerConfig(status=" x", log="l"), "status"),
        (lambda: TriggerConfig(status="x", publish_to_topic="a/b"), "not a valid Kafka topic"),
        (lambda: WebhookConfig(url="https:///no-host"), "http(s) URL with a host"),
        (lambda: WebhookConfig(url="http://h/", timeout_s=0), "above 0"),
        (lambda: WebhookConfig(url="http://h/", retries=9), "retries must be 0..5"),
        (lambda: WebhookConfig(url="http://h/", headers={"X Bad": "v"}), "header name"),
        (lambda: WebhookConfig(url="http://h/", headers={"X-A": "v\r\nX-B: w"}), "line break"),
        (lambda: StatusTriggerConfig(webhook_budget_s=10.0), "below the core's"),
    ],
)
def test_validators_say_what_is_wrong(build: Callable[[], object], message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        build()


def test_templates_may_use_only_known_fields() -> None:
    assert template_problem("{status} {event_id} {trace_id} {assignment_id}") is None
    assert "unknown field(s) {claim}" in (template_problem("{status} {claim}") or "")
    assert "malformed" in (template_problem("{status") or "")
    assert "unknown field(s) {}" in (template_problem("{}") or "")
