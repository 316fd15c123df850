"""Which media belong to a mitigation task, and what the record says about each.

The photos the form points at (``claimMediaIds`` in the E3 ``full=true`` response) when there
are any; otherwise the project's media whose description names a mitigation assignment.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from vpipe_claimx.api import ClaimxApi
from vpipe_claimx.rows.media import media_id_of

MITIGATION_DESCRIPTIONS = frozenset(
    {
        "Custom Task: Property GHRN Water Mitigation Assignment",
        "Custom Task: Property GHRN Fire/Smoke Mitigation Assignment",
    }
)
MEDIA_FILTER_MAX = 5  # E2 with mediaIds= up to this many ids, else the whole list (claimx.md §3)


def form_media_ids(assignment: Mapping[str, Any]) -> list[str]:
    """The ``claimMediaIds`` of every answer of the form, in form order, once each."""
    ids: dict[str, None] = {}
    for answer in _answers(assignment):
        for media_id in answer.get("claimMediaIds") or ():
            ids[str(media_id)] = None
    return list(ids)


def _answers(assignment: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    response = assignment.get("response")
    groups = response.get("groups") if isinstance(response, Mapping) else None
    for group in groups if isinstance(groups, list) else ():
        items = group.get("questionAndAnswers") if isinstance(group, Mapping) else None
        for item in items if isinstance(items, list) else ():
            export = item.get("responseAnswerExport") if isinstance(item, Mapping) else None
            if isinstance(export, Mapping):
                yield export


def task_media(
    api: ClaimxApi, project_id: str, assignment: Mapping[str, Any]
) -> list[dict[str, Any]]:
    """The task's media as record entries (E2; raises `ApiError`)."""
    wanted = form_media_ids(assignment)
    if wanted:
        items = api.media(project_id, wanted if len(wanted) <= MEDIA_FILTER_MAX else None)
        by_id = {media_id_of(item): item for item in items}
        chosen: Sequence[Mapping[str, Any]] = [by_id[i] for i in wanted if i in by_id]
    else:
        items = api.media(project_id)
        chosen = [item for item in items if item.get("mediaDescription") in MITIGATION_DESCRIPTIONS]
    return [media_entry(item) for item in chosen]


def media_entry(item: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "media_id": media_id_of(item),
        "file_name": item.get("mediaName"),
        "file_type": item.get("mediaType"),
        "description": item.get("mediaDescription"),
        "taken_date": item.get("takenDate"),
        "download_link": item.get("fullDownloadLink"),
    }
