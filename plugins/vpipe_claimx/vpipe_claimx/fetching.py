"""Concurrent ClaimX API calls for one enrichment batch: each distinct call runs once, up to
`CLAIMX_API_CONCURRENCY` at a time, and its answer or error is kept with the time it arrived."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import attrs

CallKey = tuple[str, str]  # (endpoint, id), e.g. ("E1", "5517342")


def _utc_now() -> datetime:
    return datetime.now(UTC)


@attrs.frozen
class Fetched:
    """One call's outcome: `value`, or the `error` it raised; `at` = when it returned."""

    at: datetime
    value: Any = None
    error: BaseException | None = None


class Fetcher:
    def __init__(self, concurrency: int, clock: Callable[[], datetime] = _utc_now) -> None:
        self._pool = ThreadPoolExecutor(concurrency, thread_name_prefix="claimx-api")
        self._clock = clock

    def fetch(self, calls: Mapping[CallKey, Callable[[], Any]]) -> dict[CallKey, Fetched]:
        """Run every call; never raises (errors are returned). Each call is bounded by the API
        client's own request timeout."""
        futures = {key: self._pool.submit(self._call, call) for key, call in calls.items()}
        return {key: future.result() for key, future in futures.items()}

    def _call(self, call: Callable[[], Any]) -> Fetched:
        try:
            value = call()
        except Exception as error:
            return Fetched(self._clock(), error=error)
        return Fetched(self._clock(), value=value)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
