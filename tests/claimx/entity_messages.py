"""`claimx.entities.rows` messages built by the real row builders from the API fixtures."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from importlib import resources
from typing import Any

from vpipe_claimx.rows import (
    EntityRows,
    Stamp,
    entities_message,
    media_items,
    media_row,
    policyholder_row,
    project_entities,
    task_entities,
    video_collab_row,
    xa_autolink_failed_row,
)

PROJECT = "5517342"
FETCHED = datetime(2026, 2, 3, 10, 30, tzinfo=UTC)


def api_body(name: str) -> Any:
    text = resources.files("vpipe_claimx").joinpath(f"data/claimx_api/{name}.json").read_text()
    return json.loads(text)


def ingestion(minutes: int) -> str:
    return (datetime(2026, 2, 3, 10, 0, tzinfo=UTC) + timedelta(minutes=minutes)).strftime(
        "%Y-%m-%dT%H:%M:%S.%f"
    ) + "0Z"


def message(event_id: str, event_type: str, rows: EntityRows) -> dict[str, Any]:
    task = {"event_id": event_id, "event_type": event_type, "project_id": PROJECT}
    return entities_message(task, rows)


def project_message(event_id: str, minutes: int, fetched: datetime = FETCHED) -> dict[str, Any]:
    stamp = Stamp(event_id, ingestion(minutes))
    rows = project_entities(api_body("export_project"), stamp, fetched)
    return message(event_id, "PROJECT_CREATED", rows)


def everything_message(event_id: str, minutes: int, fetched: datetime = FETCHED) -> dict[str, Any]:
    """Rows for all seven tables (as several events would give them)."""
    stamp = Stamp(event_id, ingestion(minutes))
    rows = project_entities(api_body("export_project"), stamp, fetched)
    for item in media_items(api_body("export_project_media")):
        rows.media.append(media_row(item, PROJECT, stamp, fetched))
    body = api_body("custom_task_assignment")
    rows.extend(task_entities(body, "6021187", PROJECT, stamp, fetched))
    video = video_collab_row(api_body("data_video_collaboration")["data"][0], stamp, fetched)
    assert video is not None
    rows.video_collab.append(video)
    return message(event_id, "PROJECT_CREATED", rows)


def policyholder_message(event_id: str, event_type: str, minutes: int) -> dict[str, Any]:
    stamp = Stamp(event_id, ingestion(minutes))
    row = policyholder_row(event_type, PROJECT, ingestion(minutes), stamp)
    return message(event_id, event_type, EntityRows(projects=[row]))


def xa_failed_message(event_id: str, minutes: int) -> dict[str, Any]:
    stamp = Stamp(event_id, ingestion(minutes))
    row = xa_autolink_failed_row(PROJECT, ingestion(minutes), stamp)
    return message(event_id, "PROJECT_AUTO_XA_LINKING_UNSUCCESSFUL", EntityRows(projects=[row]))


def numbered_message(number: int, media_per_message: int = 1) -> dict[str, Any]:
    """`everything_message` for project 6000000 + number, every id made unique to it."""
    message = everything_message(f"event-{number}", number % 50)
    project = str(6_000_000 + number)
    message["project_id"] = project
    for key in ("projects", "contacts", "media", "tasks", "external_links"):
        for row in message[key]:
            row["project_id"] = project
    base = message["media"][0]
    message["media"] = [
        base | {"media_id": str(90_000_000 + number * 1000 + i)} for i in range(media_per_message)
    ]
    unique = 10_000_000 + number
    message["tasks"][0]["assignment_id"] = unique
    message["task_templates"][0]["task_id"] = unique
    message["external_links"][0].update(link_id=unique, assignment_id=unique)
    message["video_collab"][0]["video_collaboration_id"] = unique
    for row in message["contacts"]:
        if row.get("task_assignment_id") is not None:
            row["task_assignment_id"] = unique
    return message
