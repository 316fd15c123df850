"""What every file store promises: `upload(local_path, relative_path) -> UploadResult`,
`promote(staged_path, relative_path)` and `exists(relative_path)`.

An upload overwrites whatever is at the destination (re-uploads are idempotent), hashes the bytes
as they are read, raises `FileNotFoundError` when the local file is gone (the worker re-downloads)
and `UploadError(category, message)` for everything that went wrong on the storage side.
A promotion moves an uploaded object onto another path of the same store in one server-side
step, replacing what is there; it raises `FileNotFoundError` when nothing is at `staged_path`
and `UploadError` like an upload.
"""

from __future__ import annotations

import enum
import os
from typing import Protocol

import attrs

MIB = 1024 * 1024


class ErrorCategory(enum.StrEnum):
    """How the worker should route a failed upload."""

    TRANSIENT = "transient"  # 408/429/5xx, timeouts, connection errors: next retry tier
    PERMANENT = "permanent"  # 400 invalid path or name: dead + failed_permanent result
    AUTH = "auth"  # 401 after one credential refresh: auth retry
    INFRASTRUCTURE = "infrastructure"  # 403/404 on the filesystem: retry in place, not ready


class UploadError(Exception):
    """A failed upload; `status` is the last HTTP status seen, when there was one."""

    def __init__(
        self,
        category: ErrorCategory,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.category = category
        self.message = message
        self.status = status
        self.code = code

    def __str__(self) -> str:
        return f"{self.category}: {self.message}"


@attrs.frozen
class UploadResult:
    """`path` is the destination path inside the filesystem (OneLake) or the absolute file path."""

    path: str
    bytes: int
    sha256: str


class Store(Protocol):
    def upload(
        self,
        local_path: str | os.PathLike[str],
        relative_path: str,
        *,
        content_type: str | None = ...,
        in_place: bool = ...,
    ) -> UploadResult:
        """Write the file at `relative_path`: by default through a part file renamed into place
        (a reader never sees it partial); `in_place` writes the path itself, for an object that
        only this writer uses until it says so (a staged file of one attempt)."""
        ...

    def promote(self, staged_path: str, relative_path: str) -> str:
        """Move `staged_path` onto `relative_path`; the destination path (as in `UploadResult`)."""
        ...

    def exists(self, relative_path: str) -> bool: ...

    def close(self) -> None: ...
