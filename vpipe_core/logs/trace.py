"""The trace id a log line is about: set explicitly, by context, or from the record's key."""

from __future__ import annotations

import contextlib
import contextvars
import threading
from collections.abc import Iterator

current_trace_id: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "current_trace_id", default=None
)
# The key of the record being handled: the loop sets it per record without decoding it (hot
# path); a log line about the record decodes it into `trace_id`.
current_record_key: contextvars.ContextVar[bytes | None] = contextvars.ContextVar(
    "current_record_key", default=None
)


class InlineRecordKey:
    """The key of the record the loop thread is handling inline. Setting an attribute costs a
    fifth of a ContextVar set and reset, which the inline hot path would pay per record; only
    log lines from the owning thread read it."""

    __slots__ = ("key", "thread")

    def __init__(self) -> None:
        self.key: bytes | None = None
        self.thread: int | None = None

    def own(self) -> None:
        """Make the calling thread the one whose log lines carry `key`."""
        self.thread = threading.get_ident()

    def get(self) -> bytes | None:
        return self.key if self.thread == threading.get_ident() else None


inline_record_key = InlineRecordKey()


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
