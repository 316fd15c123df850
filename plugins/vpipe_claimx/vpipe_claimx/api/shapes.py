"""The accepted answer shapes of each endpoint (claimx.md §11.3), normalised for callers.

A shape the API never documents is a permanent error: retrying would get the same answer.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from typing import Any

from vpipe_claimx.api.errors import EMPTY_RESPONSE, ApiError, Endpoint
from vpipe_core.outcome import Category
from vpipe_core.values.aliases import first_present

log = logging.getLogger("vpipe.claimx.api")

_DIGITS = re.compile(r"[0-9]+")
MEDIA_WRAPPERS = ("data", "media")
VIDEO_WRAPPERS = ("data", "collaborations", "videoCollaboration")


def numeric_id(endpoint: Endpoint, name: str, value: object) -> str:
    """`value` as a digits-only string; anything else is permanent, before any request."""
    text = str(value) if isinstance(value, int) and not isinstance(value, bool) else value
    if isinstance(text, str) and _DIGITS.fullmatch(text):
        return text
    raise ApiError(Category.PERMANENT, endpoint, f"invalid id: {name} {value!r} is not numeric")


def _unexpected(endpoint: Endpoint, what: str) -> ApiError:
    return ApiError(Category.PERMANENT, endpoint, f"unexpected shape: {what}")


def _empty(endpoint: Endpoint) -> ApiError:
    return ApiError(Category.PERMANENT, endpoint, EMPTY_RESPONSE)


def unwrapped_object(endpoint: Endpoint, body: Any) -> dict[str, Any]:
    """E1/E3: the object under `data` when present, else the root; empty is permanent."""
    if isinstance(body, dict) and "data" in body:
        body = body["data"]
    if body is None or body == {}:
        raise _empty(endpoint)
    if not isinstance(body, dict):
        raise _unexpected(endpoint, f"{type(body).__name__} instead of an object")
    return body


def project_export(body: Any) -> dict[str, Any]:
    """E1: `{project, teamMembers, companyName}`; `project` must be an object."""
    export = unwrapped_object("E1", body)
    if not isinstance(export.get("project"), dict):
        raise _unexpected("E1", "no project object")
    return export


def media_items(body: Any, wanted: Sequence[str] | None) -> list[dict[str, Any]]:
    """E2 as a list of media items, only the `wanted` ids when given (the server may ignore
    the filter). Accepts a bare list, `{data: [...]}`, `{media: [...]}` or a single item."""
    items = _media_list(body)
    usable = [item for item in items if isinstance(item, dict) and "mediaID" in item]
    if len(usable) != len(items):
        log.warning("E2: %d item(s) without mediaID ignored", len(items) - len(usable))
    if wanted is None:
        return usable
    wanted_ids = set(wanted)
    return [item for item in usable if str(item["mediaID"]) in wanted_ids]


def _media_list(body: Any) -> list[Any]:
    if body is None:
        return []
    if isinstance(body, dict):
        for wrapper in MEDIA_WRAPPERS:
            if wrapper in body:
                return _media_list(body[wrapper])
        return [body] if body else []
    if isinstance(body, list):
        return body
    raise _unexpected("E2", f"{type(body).__name__} instead of a media list")


def video_collaboration(body: Any, project_id: str) -> dict[str, Any] | None:
    """E4: an object is the report; in a list, the item whose claimId is the project.

    No matching item is no row (with a warning), never "take the first": another claim's
    report must not be written under this project.
    """
    inner = _video_inner(body)
    if inner is None or inner == {} or inner == []:
        return None
    if isinstance(inner, dict):
        return inner
    if not isinstance(inner, list):
        raise _unexpected("E4", f"{type(inner).__name__} instead of a report")
    for item in inner:
        if isinstance(item, dict) and str(item.get("claimId")) == project_id:
            return item
    claims = sorted({str(item.get("claimId")) for item in inner if isinstance(item, dict)})
    log.warning(
        "E4: %d report item(s) for project %s, none with that claimId (claimIds %s): no row",
        len(inner),
        project_id,
        ", ".join(claims[:10]),
    )
    return None


def _video_inner(body: Any) -> Any:
    if isinstance(body, dict):
        for wrapper in VIDEO_WRAPPERS:
            if wrapper in body:
                return body[wrapper]
    return body


def project_id_answer(body: Any) -> str:
    """P1: a bare number, `{projectId}` or `{id}` (also under `data`), as digits."""
    if isinstance(body, dict) and "data" in body:
        body = body["data"]
    if body is None or body == {}:
        raise _empty("P1")
    value = body
    if isinstance(body, dict):
        value = first_present(body, ("projectId", "id"))
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, str) and _DIGITS.fullmatch(value.strip()):
        return value.strip()
    raise _unexpected("P1", f"no numeric project id in {type(body).__name__}")
