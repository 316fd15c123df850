"""The hook implementations: what the ``vpipe.plugins`` entry point ``xact_status_trigger`` names.

For each XACT event at ``enrichment_complete`` whose status subtype matches triggers: publish the
notification (key ``event_id``), POST it to the webhooks (all of one event's within
``webhook_budget_s``), and return the rendered ``log`` templates for the core to log. A webhook
failure is logged and never fails the event, nor drops what was published.
"""

from __future__ import annotations

import time

import orjson

from vpipe_core.plugins import EnrichmentContext, PluginInfo, PluginResult, hookimpl
from xact_status_trigger import PLUGIN_NAME, __version__
from xact_status_trigger.config import MATCH_ALL, StatusTriggerConfig, TriggerConfig
from xact_status_trigger.event import StatusEvent
from xact_status_trigger.webhook import WebhookSender

DOMAIN = "xact"
STAGE = "enrichment_complete"

_SENDER = WebhookSender()


@hookimpl
def vpipe_plugin_info() -> PluginInfo:
    # Every status reaches the plugin; the triggers in the config choose (PluginInfo is static).
    return PluginInfo(
        name=PLUGIN_NAME,
        version=__version__,
        domains=(DOMAIN,),
        stages=(STAGE,),
        event_types=(MATCH_ALL,),
        config_class=StatusTriggerConfig,
    )


@hookimpl
def vpipe_topics(config: StatusTriggerConfig) -> list[str]:
    return config.topics()


@hookimpl
def vpipe_enrich(ctx: EnrichmentContext) -> PluginResult | None:
    config: StatusTriggerConfig = ctx.config
    event = StatusEvent.from_context(ctx)
    triggers = config.matching(event.status_subtype)
    if not triggers:
        return None
    body = orjson.dumps(event.notification(ctx.now))
    for trigger in triggers:
        if trigger.publish_to_topic:
            ctx.publish(
                trigger.publish_to_topic, body, key=event.event_id, headers=event.record_headers()
            )
    _post_webhooks(triggers, event, body, config.webhook_budget_s)
    log = _log_line(triggers, event)
    return PluginResult.ok(log=log) if log else None


def _post_webhooks(
    triggers: tuple[TriggerConfig, ...], event: StatusEvent, body: bytes, budget_s: float
) -> None:
    """POST to each trigger's webhook, in order, all within `budget_s`; never raises."""
    deadline = time.monotonic() + budget_s
    for trigger in triggers:
        if trigger.webhook is not None:
            _SENDER.post(
                trigger.webhook, body, event.headers(), deadline=deadline, event_id=event.event_id
            )


def _log_line(triggers: tuple[TriggerConfig, ...], event: StatusEvent) -> str | None:
    """The matching triggers' templates, rendered and joined with ``"; "``."""
    fields = event.template_fields()
    lines = [render(trigger.log, fields) for trigger in triggers if trigger.log]
    # The core renders PluginResult.log as a template once more: escape the braces of values.
    return "; ".join(lines).replace("{", "{{").replace("}", "}}") if lines else None


def render(template: str, fields: dict[str, str]) -> str:
    """`str.format_map` that never raises: a template it cannot render is logged as written."""
    try:
        return template.format_map(fields)
    except (KeyError, ValueError, IndexError, AttributeError, TypeError):
        return template
