"""The `sample` source: replay a JSONL file of source rows at SAMPLE_EVENTS_PER_MINUTE.

Each published row gets `ingestion_time` (now) and, from the second pass over the file on, the
domain's id fields suffixed with the pass (`<id>-r2`) so downstream dedup lets the replay
through. The cursor is the pass and the line number of the last published row, under the key
`<worker>.sample` in the cursor topic (`leased`). `_case` notes of fixture files are dropped.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from vpipe_core.config.loader import ConfigError
from vpipe_core.eventsource.domain import DomainSource
from vpipe_core.eventsource.leased import LeasedSource, leased_source
from vpipe_core.eventsource.times import ingestion_time
from vpipe_core.outcome import Output

if TYPE_CHECKING:
    from vpipe_core.context import WorkerContext

log = logging.getLogger("vpipe.eventsource.sample")

MAX_PAGE = 1000
POLL_INTERVAL_S = 1.0
MAX_BACKOFF_S = 300.0


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


def replayed(values: dict[str, Any], id_fields: Sequence[str], replay_round: int) -> None:
    """Suffix the present id fields with `-r<round>` from the second round on (in place)."""
    if replay_round < 2:
        return
    for name in id_fields:
        value = values.get(name)
        if value is not None and not isinstance(value, bool) and str(value).strip():
            values[name] = f"{value}-r{replay_round}"


class SampleSource:
    poll_interval_s = POLL_INTERVAL_S
    max_backoff_s = MAX_BACKOFF_S

    def __init__(
        self,
        rows: Sequence[SampleRow],
        position: ReplayPosition,
        events_per_minute: int,
        domain: DomainSource,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not rows:
            raise ValueError("no sample rows")
        self._rows = list(rows)
        self._position = position
        self._domain = domain
        self._pending: ReplayPosition | None = None
        self._per_second = events_per_minute / 60.0
        self._burst = max(1.0, 2 * self._per_second * POLL_INTERVAL_S)
        self._clock = clock
        self._allowance = 1.0  # the first event goes out at once
        self._last_poll = clock()
        self.newest_ingested_s: float | None = None  # replayed rows are new: ingested now

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
        self.newest_ingested_s = time.time()
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
        replayed(values, self._domain.replay_id_fields, replay_round)
        return self._domain.publish_row(values)

    def acknowledged(self) -> dict[str, Any] | None:
        """The new position's state, None when nothing was published."""
        moved, self._pending = self._pending, None
        if moved is None:
            return None
        self._position = moved
        return {"round": moved.round, "line": moved.line}

    def close(self) -> None:
        pass


def build_sample_source(
    ctx: WorkerContext, domain: DomainSource, events_per_minute: int
) -> LeasedSource:
    path, variable = domain.sample_file, domain.variable("SAMPLE_EVENTS_FILE")
    try:
        rows = read_sample_rows(path)
    except OSError as exc:
        raise ConfigError([f"{variable}: cannot read {path}: {exc}"]) from exc
    if not rows:
        raise ConfigError([f"{variable}: {path} holds no JSON object lines"])

    def start_at(state: dict[str, Any] | None) -> SampleSource:
        position = ReplayPosition(1, 0) if state is None else ReplayPosition(**_position(state))
        log.info("sample position", extra={"after": [position.round, position.line]})
        return SampleSource(rows, position, events_per_minute, domain)

    log.info(
        "sample source",
        extra={"file": str(path), "rows": len(rows), "events_per_minute": events_per_minute},
    )
    return leased_source(ctx, ".sample", "the first line of the sample file", start_at)


def _position(state: dict[str, Any]) -> dict[str, Any]:
    return {"round": state["round"], "line": state["line"]}
