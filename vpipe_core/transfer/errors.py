"""The downloader's failure type, and local disk errors turned into it."""

from __future__ import annotations

import contextlib
import errno
from collections.abc import Iterator
from pathlib import Path
from typing import Final, Literal

from vpipe_core.logs.redact import redact
from vpipe_core.outcome import Category

INFRASTRUCTURE: Final = "infrastructure"
ErrorCategory = Category | Literal["infrastructure"]
# The file system refuses this name (too long, or not valid in its encoding).
_NAME_ERRORS: Final = frozenset({errno.ENAMETOOLONG, errno.EILSEQ})


class DownloadError(Exception):
    """A failed download. `category` routes it: permanent/auth/transient, or infrastructure.

    `refreshable` marks failures a fresh link may cure (expired link, HTTP 401/403);
    `refreshes` is how many refreshed links were tried. The reason never shows a signature.
    """

    def __init__(
        self,
        category: ErrorCategory,
        reason: str,
        http_status: int | None = None,
        retry_after_s: float | None = None,
        *,
        refreshable: bool = False,
    ) -> None:
        self.reason = redact(reason)
        super().__init__(self.reason)
        self.category: ErrorCategory = category
        self.http_status = http_status
        self.retry_after_s = retry_after_s
        self.refreshable = refreshable
        self.refreshes = 0

    def __repr__(self) -> str:
        return f"DownloadError({self.category!s}, {self.reason!r}, http_status={self.http_status})"


@contextlib.contextmanager
def local_disk(path: Path) -> Iterator[None]:
    """Local file errors are infrastructure failures (retry in place, not consumed attempts),
    except those about the name itself, which no retry can cure."""
    try:
        yield
    except OSError as exc:
        name = errno.errorcode.get(exc.errno or 0, "OSError")
        reason = f"local disk error {name} at {path}: {exc.strerror or exc}"
        category: ErrorCategory = (
            Category.PERMANENT if exc.errno in _NAME_ERRORS else INFRASTRUCTURE
        )
        raise DownloadError(category, reason) from exc
