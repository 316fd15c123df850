"""Path components short enough for every file system and object store vpipe writes to.

Linux file systems refuse a name over 255 bytes (`ENAMETOOLONG`), as do OneLake and S3 path
segments. A name from an event or an API can be any length, so the domains' name builders pass
each component through `cap_component`: a long name keeps its extension and as much of its stem as
fits, followed by a short hash of the whole name, so two long names that share a prefix stay
distinct.
"""

from __future__ import annotations

import hashlib
from typing import Final

MAX_COMPONENT_BYTES: Final = 255
_HASH_CHARS: Final = 12
_MAX_EXTENSION_BYTES: Final = 16


def cap_component(name: str, limit: int = MAX_COMPONENT_BYTES) -> str:
    """`name` itself when it fits in `limit` UTF-8 bytes, else `<stem prefix>_<hash>.<ext>`."""
    encoded = name.encode("utf-8", "surrogatepass")
    if len(encoded) <= limit:
        return name
    digest = hashlib.sha256(encoded).hexdigest()[:_HASH_CHARS]
    stem, extension = _split_extension(name)
    room = limit - len(extension.encode()) - len(digest) - 1
    prefix = stem.encode("utf-8", "surrogatepass")[:room].decode("utf-8", "ignore")
    return f"{prefix}_{digest}{extension}"


def too_long_component(path: str, limit: int = MAX_COMPONENT_BYTES) -> str | None:
    """The first `/`-separated component of `path` over `limit` bytes, or None."""
    for part in path.split("/"):
        if len(part.encode("utf-8", "surrogatepass")) > limit:
            return part
    return None


def _split_extension(name: str) -> tuple[str, str]:
    stem, dot, extension = name.rpartition(".")
    too_long = len(extension.encode("utf-8", "surrogatepass")) > _MAX_EXTENSION_BYTES
    if not dot or not stem or too_long:
        return name, ""
    return stem, f".{extension}"
