"""The `sample` source: replay a JSONL file of raw events at SAMPLE_EVENTS_PER_MINUTE.

Each published event gets `ingestion_time` (now) and, from the second pass over the file on, a
traceId suffixed with the pass (`<traceId>-r2`) so downstream dedup lets the replay through.
The cursor is the pass and the line number of the last published row, in
`{STATE_DIR}/xact-poller.sample.cursor.json`. `_case` notes of fixture files are dropped.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from importlib.resources import files
from pathlib import Path
from typing import Any

import attrs

from vpipe_core.config.loader import ConfigError
from vpipe_core.context import WorkerContext
from vpipe_core.outcome import Output
from vpipe_xact.cursor import CursorFile, open_cursor, stored_position
from vpipe_xact.events import coerce_id
from vpipe_xact.ingestion_times import ingestion_time
from vpipe_xact.raw_output import raw_event_output
from vpipe_xact.settings import XactSettings

log = logging.getLogger("vpipe.xact.sample")

MAX_PAGE = 1000
POLL_INTERVAL_S = 1.0
MAX_BACKOFF_S = 300.0


def bundled_events_file() -> Path:
    return Path(str(files("vpipe_xact") / "data" / "xact_events.jsonl"))


@attrs.frozen
class SampleRow:
    line: int  # 1-based line number in the file
    values: dict[str, Any]


_int = attrs.validators.instance_of(int)


@attrs.frozen
class ReplayPosition:
    """The last published row: pass `round` (1-based) of the file, line `line` (0 = none yet)."""

    round: int = attrs.field(validator=attrs.validators.and_(_int, attrs.validators.ge(1)))
    line: int = attrs.field(validator=attrs.validators.and_(_int, attrs.validators.ge(0)))


def read_sample_rows(path: Path) -> list[SampleRow]:
    """The JSON-object lines of `path`; other non-blank lines are logged and skipped."""
    rows = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            values = json.loads(line)
        except ValueError as exc:
            log.warning("sample line skipped: not JSON", extra={"line": number, "error": str(exc)})
            continue
        if not isinstance(values, dict):
            log.warning("sample line skipped: not a JSON object", extra={"line": number})
            continue
        values.pop("_case", None)
        rows.append(SampleRow(number, values))
    return rows


class SampleSource:
    poll_interval_s = POLL_INTERVAL_S
    max_backoff_s = MAX_BACKOFF_S

    def __init__(
        self,
        rows: Sequence[SampleRow],
        cursor: CursorFile,
        position: ReplayPosition,
        events_per_minute: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not rows:
            raise ValueError("no sample rows")
        self._rows = list(rows)
        self._cursor = cursor
        self._position = position
        self._pending: ReplayPosition | None = None
        self._per_second = events_per_minute / 60.0
        self._burst = max(1.0, 2 * self._per_second * POLL_INTERVAL_S)
        self._clock = clock
        self._allowance = 1.0  # the first event goes out at once
        self._last_poll = clock()

    @property
    def position(self) -> ReplayPosition:
        return self._position

    def poll(self) -> tuple[Sequence[Output], bool]:
        self._pending = None
        now = self._clock()
        self._allowance = min(
            self._burst, self._allowance + (now - self._last_poll) * self._per_second
        )
        self._last_poll = now
        count = min(int(self._allowance), MAX_PAGE)
        if count == 0:
            return (), False
        self._allowance -= count
        outputs, position = [], self._position
        for _ in range(count):
            position, row = self._next_row(position)
            outputs.append(self._output(row, position.round))
        self._pending = position
        return outputs, self._allowance >= 1.0

    def _next_row(self, after: ReplayPosition) -> tuple[ReplayPosition, SampleRow]:
        for row in self._rows:
            if row.line > after.line:
                return ReplayPosition(after.round, row.line), row
        first = self._rows[0]
        return ReplayPosition(after.round + 1, first.line), first

    def _output(self, row: SampleRow, replay_round: int) -> Output:
        values = dict(row.values)
        values["ingestion_time"] = ingestion_time(datetime.now(UTC))
        trace_id = coerce_id(values.get("traceId"))
        if trace_id is not None and replay_round > 1:
            trace_id = f"{trace_id}-r{replay_round}"
            values["traceId"] = trace_id
        return raw_event_output(values, trace_id)

    def acknowledged(self) -> None:
        if self._pending is None:
            return
        self._cursor.write({"round": self._pending.round, "line": self._pending.line})
        self._position, self._pending = self._pending, None

    def close(self) -> None:
        self._cursor.close()


def build_sample_source(ctx: WorkerContext, settings: XactSettings) -> SampleSource:
    path = settings.sample_events_file or bundled_events_file()
    try:
        rows = read_sample_rows(path)
    except OSError as exc:
        raise ConfigError([f"XACT_SAMPLE_EVENTS_FILE: cannot read {path}: {exc}"]) from exc
    if not rows:
        raise ConfigError([f"XACT_SAMPLE_EVENTS_FILE: {path} holds no JSON object lines"])
    cursor = open_cursor(ctx, "the first line of the sample file", suffix=".sample")
    try:
        stored = stored_position(
            cursor, lambda state: ReplayPosition(state["round"], state["line"])
        )
        position = stored or ReplayPosition(1, 0)
    except BaseException:
        cursor.close()
        raise
    log.info(
        "sample source",
        extra={
            "file": str(path),
            "rows": len(rows),
            "events_per_minute": settings.sample_events_per_minute,
            "after": [position.round, position.line],
        },
    )
    return SampleSource(rows, cursor, position, settings.sample_events_per_minute)
