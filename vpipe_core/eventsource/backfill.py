"""`vpipe-worker --name <poller> --backfill-from <ISO> --backfill-to <ISO>`.

A backfill re-reads a closed window of the Eventhouse table with the live poller's paging, from
its own cursor key and lease (so the live cursor is never touched and an interrupted run resumes
where it stopped), and ends once the window is drained. Running the same window again finds its
cursor at the end and publishes nothing; produce a tombstone under that key in
`vpipe.poller.cursors` to read the window once more.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import attrs

from vpipe_core.eventsource.times import is_ingestion_time, parse_ingestion_time

if TYPE_CHECKING:
    from vpipe_core.eventsource.eventhouse import Position


@attrs.frozen
class BackfillWindow:
    """Rows ingested from `start` to `end`, both included (7-digit ingestion times)."""

    start: str = attrs.field()
    end: str = attrs.field()

    @start.validator
    @end.validator
    def _check_time(self, attribute: attrs.Attribute, value: str) -> None:
        if not is_ingestion_time(value):
            raise ValueError(f"{attribute.name} {value!r} is not a 7-digit UTC ingestion time")

    def __attrs_post_init__(self) -> None:
        if self.end < self.start:
            raise ValueError(f"the window ends ({self.end}) before it starts ({self.start})")

    @classmethod
    def parse(cls, start: str, end: str) -> BackfillWindow:
        """From two ISO-8601 times (naive = UTC); ValueError naming the one that is wrong."""
        times = []
        for flag, text in (("--backfill-from", start), ("--backfill-to", end)):
            try:
                times.append(parse_ingestion_time(text))
            except ValueError:
                raise ValueError(f"{flag}: got '{text}', expected an ISO-8601 time") from None
        return cls(*times)

    @property
    def cursor_suffix(self) -> str:
        """`.backfill-<start>-<end>`, compact: the backfill's cursor key is `<worker><suffix>`."""
        return f".backfill-{_compact(self.start)}-{_compact(self.end)}"

    def first_position(self) -> Position:
        from vpipe_core.eventsource.eventhouse import Position

        return Position(self.start, "")


def _compact(time: str) -> str:
    return time.replace("-", "").replace(":", "")
