"""E2 (`/export/project/{id}/media`) items → `claimx_attachment_metadata` rows (claimx.md §9)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from vpipe_claimx.rows.entities import Row, Stamp
from vpipe_claimx.rows.values import objects, timestamp, to_id, to_text
from vpipe_core.values.aliases import first_present

MEDIA = "media"

_TEXT_FIELDS = {
    "file_type": "mediaType",
    "file_name": "mediaName",
    "media_description": "mediaDescription",
    "media_comment": "mediaComment",
    "latitude": "latitude",
    "longitude": "longitude",
    "gps_source": "gpsSource",
    "taken_date": "takenDate",
    "full_download_link": "fullDownloadLink",
    "expires_at": "expiresAt",
}


def media_items(body: Any) -> list[Mapping[str, Any]]:
    """E2 in any accepted shape (§11.3): bare list, `{data: [...]}`, `{media: [...]}` or a single
    object."""
    if isinstance(body, Mapping):
        for wrapper in ("data", "media"):
            if wrapper in body:
                return media_items(body[wrapper])
        return [body]
    return objects(body)


def media_id_of(item: Mapping[str, Any]) -> str | None:
    return to_id(first_present(item, ("mediaID", "mediaId")), MEDIA, "media_id")


def find_media(items: Sequence[Mapping[str, Any]], media_id: str) -> Mapping[str, Any] | None:
    return next((item for item in items if media_id_of(item) == media_id), None)


def media_row(item: Mapping[str, Any], project_id: str, stamp: Stamp, fetched_at: datetime) -> Row:
    media_id = media_id_of(item)
    if media_id is None:
        raise ValueError("E2 media item has no mediaID")
    return {
        "media_id": media_id,
        "project_id": project_id,
        "task_assignment_id": to_id(item.get("taskAssignmentId"), MEDIA, "task_assignment_id"),
        **{column: to_text(item.get(name)) for column, name in _TEXT_FIELDS.items()},
        "last_enriched_at": timestamp(fetched_at),
        **stamp.columns(),
    }
