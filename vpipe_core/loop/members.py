"""The optional members of a handler (the protocols of vpipe_core.spec), read once at start."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeGuard

import attrs

from vpipe_core.spec import (
    AssignAware,
    BatchHandler,
    BatchMinInterval,
    BatchSize,
    BatchWait,
    Closeable,
    CommitAware,
    Concurrent,
    RevokeAware,
)

Hook = Callable[[Any], None]


def _nothing(_: Any) -> None:
    return None


def _noop() -> None:
    return None


@attrs.frozen
class Members:
    concurrency: int = 1
    batch_size: int = 500
    batch_max_wait_s: float = 1.0
    batch_min_interval_s: float | None = None  # None: no batch before it is full or old
    on_assign: Hook = _nothing
    on_revoke: Hook = _nothing
    on_commit: Hook | None = None
    close: Callable[[], None] = _noop


def members(handler: object) -> Members:
    return Members(
        concurrency=1
        if isinstance(handler, BatchHandler) or not isinstance(handler, Concurrent)
        else int(handler.concurrency),
        batch_size=int(handler.batch_size) if isinstance(handler, BatchSize) else 500,
        batch_max_wait_s=float(handler.batch_max_wait_s) if isinstance(handler, BatchWait) else 1.0,
        batch_min_interval_s=_min_interval(handler),
        on_assign=handler.on_assign if isinstance(handler, AssignAware) else _nothing,
        on_revoke=handler.on_revoke if isinstance(handler, RevokeAware) else _nothing,
        on_commit=handler.on_commit if isinstance(handler, CommitAware) else None,
        close=handler.close if _closeable(handler) else _noop,
    )


def _min_interval(handler: object) -> float | None:
    if not isinstance(handler, BatchMinInterval) or handler.batch_min_interval_s is None:
        return None
    return float(handler.batch_min_interval_s)


def _closeable(handler: object) -> TypeGuard[Closeable]:
    return isinstance(handler, Closeable) and callable(handler.close)
