"""Where a task's file lives in `CACHE_DIR`: `<domain>/<media_id>/<name>`, derived from the task.

The download worker writes there and the upload worker reads and then deletes there. Neither
takes a path from a message: `local_cache_path` in a `downloads.cached` record is informational,
so a record naming any other file (`.env`, another domain's cache, a symlink to it) can make the
upload worker neither upload nor delete it.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath

from vpipe_core.transfer.names import MAX_COMPONENT_BYTES, too_long_component

PART_DIR = "tmp"


class UnsafeCachePath(ValueError):
    """A task whose ids do not make a file name inside this domain's cache directory."""


def cache_file(cache_dir: Path, relative: str, domain: str | None = None) -> Path:
    """`cache_dir/relative` after checking that `relative` has no `..`, `.`, empty or absolute
    parts, no NUL byte, no component too long for the file system, is not in the part-file
    directory and (given `domain`) starts with it."""
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
    return cache_dir.joinpath(*parts)


def readable_cache_file(cache_dir: Path, domain: str, relative: str) -> Path:
    """`cache_file(...)` inside `<domain>/`, also refusing a symlink at the file or any directory
    below `cache_dir` (a link could point the upload, and the delete after it, anywhere)."""
    path = cache_file(cache_dir, relative, domain)
    current = cache_dir
    for part in path.relative_to(cache_dir).parts:
        current = current / part
        if current.is_symlink():
            raise UnsafeCachePath(f"{current} is a symbolic link; refused")
    return path
