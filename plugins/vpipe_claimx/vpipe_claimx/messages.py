"""The enricher's output records (claimx.md §6): entity rows and media download tasks."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from vpipe_claimx.paths import media_blob_path, media_file_name
from vpipe_claimx.rows import EntityRows, Row, entities_message
from vpipe_claimx.topics import DOWNLOADS, ENTITIES
from vpipe_core.outcome import Output


def download_task(task: Mapping[str, Any], media: Row) -> dict[str, Any]:
    """The `claimx.downloads.pending` value for a media row with a download link (§6, §10.2)."""
    file_name = media_file_name(media["file_name"], media["media_id"], media["file_type"])
    return {
        "media_id": media["media_id"],
        "project_id": media["project_id"],
        "download_url": media["full_download_link"],
        "blob_path": media_blob_path(media["project_id"], media["media_id"], file_name),
        "file_type": media["file_type"],
        "file_name": file_name,
        "source_event_id": task["event_id"],
        "expires_at": media["expires_at"],
        "refresh_count": 0,
        "retry_count": 0,
        "metadata": {},
    }


def _headers(trace_id: str, extra: Mapping[str, str]) -> list[tuple[str, bytes]]:
    return [("trace_id", trace_id.encode()), *((k, v.encode()) for k, v in extra.items())]


def entities_output(
    task: Mapping[str, Any], entity_rows: EntityRows, headers: Mapping[str, str]
) -> Output:
    """One `claimx.entities.rows` record, key `event_id`."""
    event_id = str(task["event_id"])
    value = orjson.dumps(entities_message(task, entity_rows))
    return Output(ENTITIES, value, event_id.encode(), _headers(event_id, headers))


def download_output(download: Mapping[str, Any], headers: Mapping[str, str]) -> Output:
    """One `claimx.downloads.pending` record, key `media_id`: the download worker's dedup key,
    so every task of a media lands in one partition, whose dedup entries follow it."""
    event_id, media_id = str(download["source_event_id"]), str(download["media_id"])
    extra = {"media_id": media_id, **headers}
    value = orjson.dumps(download)
    return Output(DOWNLOADS, value, media_id.encode(), _headers(event_id, extra))
