"""The hook implementations: what the ``vpipe.plugins`` entry point ``claimx_mitigation_tracker``
names.

For a completed mitigation task (templates 25367 and 24454, matched by the declarative
``conditions``) it publishes the flat record of claimx.md §12. Task and project fields come from
the context (``first_task()`` row, ``project`` row, always present); the form's photos need the
E3 ``full=true`` form and E2, called through ``ctx.api`` (the enricher's client: same limits and
circuit). If those calls fail the record is still published, with ``media: []`` and the reason in
``media_error``, so a task is never dropped for its photos.
"""

from __future__ import annotations

import logging
from typing import Any

from claimx_mitigation_tracker import PLUGIN_NAME, TEMPLATE_IDS, __version__
from claimx_mitigation_tracker.config import MitigationConfig
from claimx_mitigation_tracker.media import task_media
from vpipe_claimx.api import ApiError
from vpipe_claimx.plugin_context import ClaimxEnrichmentContext
from vpipe_core.plugins import PluginInfo, PluginResult, hookimpl

log = logging.getLogger("vpipe.plugins.claimx_mitigation_tracker")

COMPLETED = "CUSTOM_TASK_COMPLETED"


@hookimpl
def vpipe_plugin_info() -> PluginInfo:
    return PluginInfo(
        name=PLUGIN_NAME,
        version=__version__,
        domains=("claimx",),
        stages=("enrichment_complete",),
        event_types=(COMPLETED,),
        config_class=MitigationConfig,
        conditions={"any": [{"field": "task_id", "in": list(TEMPLATE_IDS)}]},
    )


@hookimpl
def vpipe_topics(config: MitigationConfig) -> list[str]:
    return [config.topic]


@hookimpl
def vpipe_enrich(ctx: ClaimxEnrichmentContext) -> PluginResult | None:
    config: MitigationConfig = ctx.config
    record = mitigation_record(ctx, config.source)
    try:
        assignment = ctx.api.task_assignment(str(record["assignment_id"]))
        record["media"] = task_media(ctx.api, ctx.project_id, assignment)
    except ApiError as exc:
        record["media_error"] = f"{exc.endpoint}: {exc}"
        log.warning(
            "mitigation task %s published without media: %s",
            record["assignment_id"],
            exc,
            extra={"event_id": ctx.event_id, "plugin": PLUGIN_NAME},
        )
    ctx.publish(config.topic, record)
    return PluginResult.ok(
        log=f"mitigation task {{assignment_id}} completed: {len(record['media'])} media"
    )


def mitigation_record(ctx: ClaimxEnrichmentContext, source: str) -> dict[str, Any]:
    """The §12 record without its media (``media: []``)."""
    return {
        "event_id": ctx.event_id,
        "assignment_id": ctx.get("entities.tasks.0.assignment_id"),
        "project_id": ctx.project_id,
        "task_id": ctx.get("entities.tasks.0.task_id"),
        "task_name": ctx.get("task_name"),
        "status": ctx.get("task_status"),
        "master_filename": ctx.get("project.master_file_name"),
        "type_of_loss": ctx.get("project.type_of_loss"),
        "claim_number": ctx.get("project.project_number"),
        "policy_number": ctx.get("project.secondary_number"),
        "date_assigned": ctx.get("entities.tasks.0.date_assigned"),
        "date_completed": ctx.get("entities.tasks.0.date_completed"),
        "media": [],
        "ingested_at": ctx.ingested_at,
        "published_at": ctx.now.isoformat(),
        "source": source,
    }
