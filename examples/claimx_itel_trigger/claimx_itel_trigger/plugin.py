"""The hook implementations: what the ``vpipe.plugins`` entry point ``claimx_itel_trigger`` names.

At ClaimX ``enrichment_complete``, for an assigned or completed custom task whose template id
(``first_task()["task_id"]``) is configured, publish the tracking record to
``itel.cabinet.task.tracking`` (key ``event_id``) and log the configured line.
"""

from __future__ import annotations

from typing import Any

from claimx_itel_trigger import PLUGIN_NAME, TRACKING_TOPIC, __version__, specs
from claimx_itel_trigger.config import ItelTriggerConfig
from vpipe_claimx.plugin_context import ClaimxEnrichmentContext
from vpipe_core.plugins import PluginInfo, PluginResult, hookimpl
from vpipe_core.spec import WorkerSpec

ASSIGNED = "CUSTOM_TASK_ASSIGNED"
COMPLETED = "CUSTOM_TASK_COMPLETED"

#: The cheap pre-filter: only task events whose E3 answered a template id reach the plugin.
#: `PluginInfo` cannot depend on the config, so the configured ids are matched in `vpipe_enrich`.
HAS_TASK = {"all": [{"field": "task_id", "not_equals": None}]}


@hookimpl
def vpipe_plugin_info() -> PluginInfo:
    return PluginInfo(
        name=PLUGIN_NAME,
        version=__version__,
        domains=("claimx",),
        stages=("enrichment_complete",),
        event_types=(ASSIGNED, COMPLETED),
        config_class=ItelTriggerConfig,
        conditions=HAS_TASK,
    )


@hookimpl
def vpipe_topics() -> list[str]:
    return [TRACKING_TOPIC]


@hookimpl
def vpipe_companion_workers() -> list[WorkerSpec]:
    return [specs.tracking_worker]


@hookimpl
def vpipe_enrich(ctx: ClaimxEnrichmentContext) -> PluginResult | None:
    config: ItelTriggerConfig = ctx.config
    task = ctx.first_task()
    if task is None or not config.matches(task.get("task_id")):
        return None
    ctx.publish(
        TRACKING_TOPIC,
        tracking_record(ctx, task, config.trigger_name),
        key=ctx.event_id,
        headers={
            "x-trigger-name": config.trigger_name,
            "x-task-id": str(task["task_id"]),
            "x-event-type": ctx.event_type,
        },
    )
    return PluginResult.ok(log=config.log)


def tracking_record(ctx: ClaimxEnrichmentContext, task: Any, trigger_name: str) -> dict[str, Any]:
    """The record of `itel.cabinet.task.tracking` (claimx.md §12)."""
    return {
        "trigger_name": trigger_name,
        "event_id": ctx.event_id,
        "event_type": ctx.event_type,
        "project_id": ctx.project_id,
        "task_id": task.get("task_id"),
        "assignment_id": task.get("assignment_id"),
        "task_name": task.get("task_name"),
        "task_status": task.get("status"),
        "timestamp": ctx.now.isoformat(),
        "task": task,
        "project": ctx.project,
    }
