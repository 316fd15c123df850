"""File names and blob paths of ClaimX media (claimx.md §10.2).

`media_file_name` turns an API `mediaName` into a name safe for one path component;
`media_blob_path` makes the OneLake path unique per media (two phones both uploading `IMG_0001.jpg`
must not overwrite each other). The downloader caches under
`{CACHE_DIR}/claimx/{media_id}/{file_name}`, so a name can never be `.`/`..` or contain a separator.
"""

from __future__ import annotations

import re

from vpipe_core.transfer.names import cap_component

_UNSAFE = re.compile(r"[/\\\x00-\x1f\x7f-\x9f]")
_DIGITS = re.compile(r"^[0-9]+$")


def media_file_name(media_name: object, media_id: object, media_type: object) -> str:
    """`mediaName` with `/`, `\\` and control characters replaced by `_`; blank → `media_{id}`;
    `.{mediaType}` appended when the name has no extension; capped to one path component's
    length (`cap_component`)."""
    name = _UNSAFE.sub("_", _text(media_name))
    if not name.strip(". "):
        name = f"media_{_numeric_id('media_id', media_id)}"
    suffix = _UNSAFE.sub("_", _text(media_type)).strip(". ")
    if suffix and not _has_extension(name):
        name = f"{name}.{suffix}"
    return cap_component(name)


def media_blob_path(project_id: object, media_id: object, file_name: str) -> str:
    """`{project_id}/media/{media_id}_{file_name}` (relative to `ONELAKE_CLAIMX_PATH`)."""
    project = _numeric_id("project_id", project_id)
    media = _numeric_id("media_id", media_id)
    if not file_name or _UNSAFE.search(file_name):
        raise ValueError(f"file_name {file_name!r} is not a sanitised media file name")
    return f"{cap_component(project)}/media/{cap_component(f'{media}_{file_name}')}"


def _has_extension(name: str) -> bool:
    stem, dot, ext = name.rpartition(".")
    return bool(dot and stem.strip(". ") and ext.strip())


def _text(value: object) -> str:
    return "" if value is None else str(value).strip()


def _numeric_id(field: str, value: object) -> str:
    text = _text(value)
    if not _DIGITS.match(text):
        raise ValueError(f"{field} must be numeric, got {value!r}")
    return text
