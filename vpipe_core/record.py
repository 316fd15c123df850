"""A consumed Kafka record as handlers see it."""

from __future__ import annotations

from typing import Any, Self

import attrs

from vpipe_core.outcome import Headers

ATTEMPT_HEADER = "vpipe_attempt"


@attrs.frozen(slots=True)
class Record:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: Headers
    timestamp_ms: int | None = None

    @classmethod
    def from_message(cls, message: Any) -> Self:
        _, ts = message.timestamp()
        return cls(
            message.topic(),
            message.partition(),
            message.offset(),
            message.key(),
            message.value(),
            message.headers() or [],
            ts if ts and ts > 0 else None,
        )

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
