"""File names and blob paths of XACT attachments (xact.md §4.6-4.11).

`attachments_of` gives every attachment of an event its media id, a file name unique within the
event and its OneLake path `{status_subtype}/{assignment_id}/{trace_id}/{file_name}`, each
component capped to one path component's length (`cap_component`).
"""

from __future__ import annotations

from urllib.parse import urlsplit

import attrs

from vpipe_core.transfer.names import cap_component
from vpipe_core.transfer.rules import split_segment
from vpipe_xact.events import XactEvent, media_id


@attrs.frozen
class Attachment:
    url: str
    media_id: str
    file_type: str
    filename: str
    blob_path: str


def url_segment(url: str) -> str:
    """§4.6: the last path segment, query ignored, not percent-decoded."""
    return urlsplit(url).path.rsplit("/", 1)[-1]


def file_type(segment: str) -> str:
    """§4.7: the extension in upper case, `UNKNOWN` without one (`split_segment`)."""
    extension = split_segment(segment)[1]
    return extension.upper() if extension else "UNKNOWN"


def base_name(segment: str) -> str:
    """§4.8: the name before the last `.`, `unknown` when empty (`split_segment`)."""
    return split_segment(segment)[0]


def filename_for(event: XactEvent, segment: str) -> str:
    """§4.9, before collision handling."""
    assignment = event.assignment_id or "unknown"
    name, kind = base_name(segment), file_type(segment)
    subtype = event.status_subtype
    if subtype == "firstNoticeOfLossReceived":
        stem = f"{assignment}_FNOL_{name}"
    elif subtype == "estimatePackageReceived":
        stem = f"{assignment}_{event.estimate_version or 'unknown'}_{name}"
    else:
        stem = f"{assignment}_{name}"
    return stem if kind == "UNKNOWN" else f"{stem}.{kind.lower()}"


def _with_suffix(filename: str, suffix: str, kind: str) -> str:
    if kind == "UNKNOWN":
        return f"{filename}_{suffix}"
    stem, ext = filename.rsplit(".", 1)
    return f"{stem}_{suffix}.{ext}"


def attachments_of(event: XactEvent) -> list[Attachment]:
    """Every attachment of the event with its media id, unique file name and blob path."""
    taken: set[str] = set()
    result = []
    for url in event.attachments:
        media = media_id(event.trace_id, url)
        segment = url_segment(url)
        kind = file_type(segment)
        name = filename_for(event, segment)
        if name in taken:
            name = _with_suffix(filename_for(event, segment), media.replace("-", "")[:8], kind)
            if name in taken:  # clarification 4.10: fall back to the full media id
                name = _with_suffix(filename_for(event, segment), media.replace("-", ""), kind)
        taken.add(name)
        name = cap_component(name)
        folders = (event.status_subtype, event.assignment_id or "unknown", event.trace_id)
        path = "/".join([*(cap_component(folder) for folder in folders), name])
        result.append(Attachment(url, media, kind, name, path))
    return result
