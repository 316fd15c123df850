"""Where a task's file lives in `CACHE_DIR`: `<domain>/<media_id>/<name>`, derived from the task.

The download worker writes there, stages the file in the store beside its blob path
(`domain.staged_path`) and deletes it.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath

from vpipe_core.transfer.names import MAX_COMPONENT_BYTES, too_long_component

PART_DIR = "tmp"


class UnsafeCachePath(ValueError):
    """A task whose ids do not make a file name inside this domain's cache directory."""


def cache_file(cache_dir: Path, relative: str) -> Path:
    """`cache_dir/relative` after `checked_cache_path(relative)`."""
    return cache_dir.joinpath(*checked_cache_path(relative).split("/"))


def checked_cache_path(relative: str, domain: str | None = None) -> str:
    """`relative` after checking that it has no `..`, `.`, empty or absolute parts, no NUL
    byte, no component too long for the file system, is not in the part-file directory and
    (given `domain`) starts with it."""
    parts = relative.split("/")
    unsafe = (
        not relative.strip()
        or PurePosixPath(relative).is_absolute()
        or ".." in parts
        or "." in parts
        or "" in parts
        or "\x00" in relative
        or parts[0] == PART_DIR
        or (domain is not None and (parts[0] != domain or len(parts) < 2))
    )
    if unsafe:
        raise UnsafeCachePath(f"unsafe cache path {relative!r}")
    long_part = too_long_component(relative)
    if long_part is not None:
        raise UnsafeCachePath(
            f"cache path component over {MAX_COMPONENT_BYTES} bytes: {long_part[:60]!r}..."
        )
    return relative
