"""What every entity row carries (`Stamp`) and the rows of one event (`EntityRows`, §6)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any

import attrs

from vpipe_claimx.events import ingested_datetime
from vpipe_claimx.rows.values import ingestion_timestamp
from vpipe_core.transfer.presigned import stored_url

LINK = "full_download_link"

Row = dict[str, Any]

#: The `claimx.entities.rows` keys, in the order the entity writer writes their tables.
ENTITY_KEYS = (
    "projects",
    "contacts",
    "media",
    "tasks",
    "task_templates",
    "external_links",
    "video_collab",
)

#: §9 columns without a source: written null, kept for compatibility.
NO_SOURCE: Mapping[str, frozenset[str]] = {
    "projects": frozenset({"coverages", "contents_task_sent", "contents_task_at"}),
    "contacts": frozenset({"video_collaboration_id"}),
    "external_links": frozenset({"created_date", "last_accessed", "accessed_count"}),
}

PARTIAL = "_partial"  # control key (§6): the row updates only the columns it carries


@attrs.frozen
class Stamp:
    """The columns every row of one event carries: `event_id` (last event that wrote the row) and
    `created_at`/`updated_at`, taken from the event's ingestion time (not the clock) so a replayed
    event gives identical rows. The entity writer keeps the first `created_at` of a row."""

    event_id: str
    ingested_at: str  # canonical 7-digit ingestion time of the event

    @property
    def written_at(self) -> datetime:
        return ingested_datetime(self.ingested_at)

    def columns(self) -> Row:
        written = ingestion_timestamp(self.ingested_at)
        return {"event_id": self.event_id, "created_at": written, "updated_at": written}


@attrs.define
class EntityRows:
    """The rows one event produces, per `claimx.entities.rows` key."""

    projects: list[Row] = attrs.field(factory=list)
    contacts: list[Row] = attrs.field(factory=list)
    media: list[Row] = attrs.field(factory=list)
    tasks: list[Row] = attrs.field(factory=list)
    task_templates: list[Row] = attrs.field(factory=list)
    external_links: list[Row] = attrs.field(factory=list)
    video_collab: list[Row] = attrs.field(factory=list)

    def extend(self, other: EntityRows) -> EntityRows:
        for key in ENTITY_KEYS:
            getattr(self, key).extend(getattr(other, key))
        return self

    def items(self) -> Iterator[tuple[str, list[Row]]]:
        for key in ENTITY_KEYS:
            yield key, getattr(self, key)

    def __len__(self) -> int:
        return sum(len(rows) for _, rows in self.items())

    def as_dict(self) -> dict[str, list[Row]]:
        return dict(self.items())


def entities_message(task: Mapping[str, Any], rows: EntityRows) -> dict[str, Any]:
    """The `claimx.entities.rows` value of one event (§6; `trace_id` = `event_id`)."""
    return {
        "event_id": task["event_id"],
        "event_type": task["event_type"],
        "project_id": task["project_id"],
        "trace_id": task["event_id"],
        **{key: _links_unsigned(entity_rows) for key, entity_rows in rows.as_dict().items()},
    }


def _links_unsigned(rows: list[Row]) -> list[Row]:
    """Media rows keep their download link without its signature in the table (the download
    task, built from the API's row, carries the usable one)."""
    return [
        {**row, LINK: stored_url(row[LINK])} if isinstance(row.get(LINK), str) else row
        for row in rows
    ]
