"""A consumed Kafka record as handlers see it."""

from __future__ import annotations

from typing import Any, NamedTuple, Self

from vpipe_core.outcome import Headers

ATTEMPT_HEADER = "vpipe_attempt"


class Record(NamedTuple):
    """A consumed record. A tuple, because one is built per message on the hot path; headers
    and timestamp are read from the underlying message only when asked for."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    given_headers: Headers | None = None
    message: Any = None  # the confluent-kafka Message it came from, if any

    @classmethod
    def from_message(cls, message: Any) -> Self:
        return tuple.__new__(
            cls,
            (
                message.topic(),
                message.partition(),
                message.offset(),
                message.key(),
                message.value(),
                None,
                message,
            ),
        )

    @property
    def headers(self) -> Headers:
        if self.given_headers is not None:
            return self.given_headers
        return (self.message.headers() if self.message is not None else None) or []

    @property
    def timestamp_ms(self) -> int | None:
        if self.message is None:
            return None
        _, ts = self.message.timestamp()
        return ts if ts > 0 else None

    def header(self, name: str) -> str | None:
        """The last value of header `name` decoded as UTF-8, or None."""
        found = None
        for key, value in self.headers:
            if key == name and value is not None:
                found = value
        return found.decode("utf-8", "replace") if found is not None else None

    @property
    def attempt(self) -> int:
        """Failures so far (0 on first delivery), from `vpipe_attempt`."""
        raw = self.header(ATTEMPT_HEADER)
        try:
            return max(0, int(raw)) if raw else 0
        except ValueError:
            return 0

    @property
    def position(self) -> str:
        return f"{self.topic}[{self.partition}]@{self.offset}"
