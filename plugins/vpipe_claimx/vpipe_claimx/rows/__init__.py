"""Row builders: ClaimX API bodies and events → the entity rows of claimx.md §9.

Pure functions: the same body, event and times give the same rows. Event-derived timestamps are
the event's ingestion time, never the clock; `last_enriched_at` is the time of the API call.
"""

from vpipe_claimx.rows.entities import (
    ENTITY_KEYS,
    NO_SOURCE,
    PARTIAL,
    EntityRows,
    Row,
    Stamp,
    entities_message,
)
from vpipe_claimx.rows.media import find_media, media_id_of, media_items, media_row
from vpipe_claimx.rows.project import (
    e1_fields,
    policyholder_row,
    project_contacts,
    project_entities,
    project_id_of,
    project_row,
    xa_autolink_failed_row,
)
from vpipe_claimx.rows.task import task_entities
from vpipe_claimx.rows.video import video_collab_row

__all__ = [
    "ENTITY_KEYS",
    "NO_SOURCE",
    "PARTIAL",
    "EntityRows",
    "Row",
    "Stamp",
    "e1_fields",
    "entities_message",
    "find_media",
    "media_id_of",
    "media_items",
    "media_row",
    "policyholder_row",
    "project_contacts",
    "project_entities",
    "project_id_of",
    "project_row",
    "task_entities",
    "video_collab_row",
    "xa_autolink_failed_row",
]
