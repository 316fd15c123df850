"""`ApiError` and the status classification of claimx.md §11.2."""

from __future__ import annotations

from typing import Literal

from vpipe_core.logs.redact import redact
from vpipe_core.outcome import Category

Endpoint = Literal["E1", "E2", "E3", "E4", "P1", "P2"]

CIRCUIT_OPEN = "circuit_open"
EMPTY_RESPONSE = "empty response"


class ApiError(Exception):
    """A failed ClaimX API call. `category` routes it: PERMANENT → dead, TRANSIENT/AUTH → retry.

    `status` is the HTTP status when the server answered; `retry_after_s` the server's
    `Retry-After` (a minimum delay for the retry). `reason` is short and stable (e.g. "HTTP 404",
    "timeout", "circuit_open"); `detail` adds the redacted start of an error body, if any.
    """

    def __init__(
        self,
        category: Category,
        endpoint: Endpoint,
        reason: str,
        *,
        status: int | None = None,
        retry_after_s: float | None = None,
        detail: str = "",
    ) -> None:
        self.category = category
        self.endpoint = endpoint
        self.reason = redact(reason)
        self.status = status
        self.retry_after_s = retry_after_s
        self.detail = redact(detail)
        message = f"ClaimX API {endpoint}: {self.reason}"
        super().__init__(f"{message}: {self.detail}" if self.detail else message)

    def __repr__(self) -> str:
        return (
            f"ApiError({self.category!s}, {self.endpoint}, {self.reason!r}, status={self.status})"
        )


def status_category(status: int) -> Category | None:
    """Category of a non-success HTTP status; None for 2xx (ok or ok-empty)."""
    if 200 <= status < 300:
        return None
    if status == 401:
        return Category.AUTH
    if status in (408, 429) or status >= 500:
        return Category.TRANSIENT
    if 400 <= status < 500:
        return Category.PERMANENT
    # 1xx/3xx: the API never redirects; no final answer, so try again later.
    return Category.TRANSIENT
