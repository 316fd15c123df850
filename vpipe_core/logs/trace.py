"""What a log line is about: a trace id set explicitly or by context, else the record being
handled (its key is the domain's trace id, its `traceparent` header the W3C one)."""

from __future__ import annotations

import contextlib
import contextvars
import threading
from collections.abc import Iterator
from typing import Any

current_trace_id: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "current_trace_id", default=None
)
# The record being handled (a vpipe_core.record.Record): the loop sets it per record without
# decoding anything (hot path); a log line about the record reads its key and traceparent.
current_record: contextvars.ContextVar[Any] = contextvars.ContextVar("current_record", default=None)


class InlineRecord:
    """The record the loop thread is handling inline. Setting an attribute costs a fifth of a
    ContextVar set and reset, which the inline hot path would pay per record; only log lines
    from the owning thread read it."""

    __slots__ = ("record", "thread")

    def __init__(self) -> None:
        self.record: Any = None
        self.thread: int | None = None

    def own(self) -> None:
        """Make the calling thread the one whose log lines carry `record`."""
        self.thread = threading.get_ident()

    def get(self) -> Any:
        return self.record if self.thread == threading.get_ident() else None


inline_record = InlineRecord()


def set_trace_id(trace_id: str | None) -> contextvars.Token[str | None]:
    """Attach `trace_id` to every record logged from this context; reset with the token."""
    return current_trace_id.set(trace_id)


@contextlib.contextmanager
def trace_context(trace_id: str | None) -> Iterator[None]:
    """Attach `trace_id` to every record logged inside the block."""
    token = current_trace_id.set(trace_id)
    try:
        yield
    finally:
        current_trace_id.reset(token)
