"""What ClaimX plugins see at stage `enrichment_complete` (claimx.md §12 point 2).

`ClaimxEnrichmentContext` is the core `EnrichmentContext` with ClaimX accessors over its
`extras`: `project_id`, `ingested_at`, `entities` (the event's rows, read-only), `tasks()`,
`first_task()`, `project` (always present: the cached row or a fresh E1), `api` (the worker's
ClaimX client, same limits and circuit). `get(path)` reads the same fields by dotted path
(`"project.master_file_name"`, `"entities.tasks.0.task_id"`), and the condition fields
`project_id`, `task_id`, `task_status`, `task_name` and `assignment_id` come from the task rows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import attrs

from vpipe_claimx.api import ClaimxApi
from vpipe_claimx.rows import EntityRows
from vpipe_core.plugins.types import EnrichmentContext, freeze
from vpipe_core.values.aliases import first_present

DOMAIN = "claimx"
STAGE = "enrichment_complete"


@attrs.define
class ClaimxEnrichmentContext(EnrichmentContext):
    @property
    def project_id(self) -> str:
        return str(self.extras["project_id"])

    @property
    def ingested_at(self) -> str:
        return str(self.extras["ingested_at"])

    @property
    def entities(self) -> Mapping[str, Sequence[Mapping[str, Any]]]:
        entities: Mapping[str, Sequence[Mapping[str, Any]]] = self.extras["entities"]
        return entities

    @property
    def project(self) -> Mapping[str, Any]:
        project: Mapping[str, Any] = self.extras["project"]
        return project

    @property
    def api(self) -> ClaimxApi:
        api: ClaimxApi = self.extras["api"]
        return api

    def tasks(self) -> Sequence[Mapping[str, Any]]:
        """The event's `claimx_tasks` rows (empty unless it is a task event)."""
        return self.entities.get("tasks", ())

    def first_task(self) -> Mapping[str, Any] | None:
        tasks = self.tasks()
        return tasks[0] if tasks else None


def plugin_context(
    task: Mapping[str, Any],
    entity_rows: EntityRows,
    project: Mapping[str, Any],
    downloads: Sequence[Mapping[str, Any]],
    api: ClaimxApi,
    attempt: int,
    now: datetime,
) -> ClaimxEnrichmentContext:
    """The context of one successful event."""
    tasks = entity_rows.tasks
    first = tasks[0] if tasks else {}
    return ClaimxEnrichmentContext(
        domain=DOMAIN,
        stage=STAGE,
        event_id=task["event_id"],
        event_type=task["event_type"],
        task=task,
        attempt=attempt,
        now=now,
        extras={
            "trace_id": task["event_id"],
            "project_id": task["project_id"],
            "ingested_at": task["ingested_at"],
            "media_id": task.get("media_id"),
            "task_id": first.get("task_id"),
            "task_status": first.get("status"),
            "task_name": first.get("task_name"),
            "assignment_id": first_present(first, ("assignment_id",))
            or task.get("task_assignment_id"),
            "entities": freeze(entity_rows.as_dict()),
            "project": freeze(project),
            "downloads": freeze(list(downloads)),
            "api": api,
        },
    )
