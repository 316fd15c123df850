"""The Eventhouse source: pages of a domain's table after its durable position.

`poll()` returns one page; only `acknowledged()` moves the position (and returns it for the
cursor, `leased.LeasedSource`). A live poller reads up to `now - settle` every cycle and never
ends. A backfill reads a closed window with its own cursor key and sets `finished` once a short
page inside the window was acknowledged.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from vpipe_core.config.loader import ConfigError
from vpipe_core.eventsource.domain import DomainSource, RowPublisher
from vpipe_core.eventsource.eventhouse import (
    TABLE_NAME,
    EventhouseReader,
    Position,
    kusto_client,
    unpublished,
)
from vpipe_core.eventsource.leased import LeasedSource, leased_source
from vpipe_core.eventsource.settings import EventhouseAuth, EventSourceSettings
from vpipe_core.eventsource.times import epoch_seconds, ingestion_time, tick_after, tick_before
from vpipe_core.outcome import Output
from vpipe_core.transfer.netconf import ProxyConfig, ca_bundle
from vpipe_core.values.timestamps import parse_iso_utc

if TYPE_CHECKING:
    from vpipe_core.context import WorkerContext
    from vpipe_core.eventsource.backfill import BackfillWindow

log = logging.getLogger("vpipe.eventsource.eventhouse")

MAX_BACKOFF_S = 300.0
DEFAULT_LOOKBACK = timedelta(hours=1)


class EventhouseSource:
    """Pages of an Eventhouse table after the durable `(ingestion time, key)` position."""

    max_backoff_s = MAX_BACKOFF_S

    def __init__(
        self,
        reader: EventhouseReader,
        position: Position,
        publish: RowPublisher,
        poll_interval_s: float,
        settle_s: float,
        window_end: str | None = None,
    ) -> None:
        self._reader = reader
        self._position = position
        self._publish = publish
        self._pending: Position | None = None
        self._drained = False
        self.poll_interval_s = poll_interval_s
        self._settle = timedelta(seconds=settle_s)
        self._window_end = window_end  # exclusive upper bound of a backfill, None when live
        self.finished = False
        self.newest_ingested_s: float | None = None

    @property
    def position(self) -> Position:
        return self._position

    def poll(self) -> tuple[Sequence[Output], bool]:
        self._pending, self._drained = None, False
        upper = self._upper()
        rows, full = self._reader.page(self._position, upper)
        fresh, after = unpublished(rows, self._position)
        if after != self._position:
            self._pending = after
        if rows:
            self.newest_ingested_s = epoch_seconds(rows[-1].at[0])
        # A backfill is drained by a short page up to its window end (not up to a settle
        # bound that still cuts a window ending about now).
        self._drained = not full and upper == self._window_end
        return [self._publish(row.values) for row in fresh], full

    def _upper(self) -> str:
        settled = ingestion_time(datetime.now(UTC) - self._settle)
        if self._window_end is None:
            return settled
        return min(self._window_end, settled)

    def acknowledged(self) -> dict[str, Any] | None:
        """The new position's state, None when the page did not move it."""
        moved, self._pending = self._pending, None
        if moved is not None:
            self._position = moved
        if self._drained:
            self.finished = True
        return None if moved is None else moved.state()

    def close(self) -> None:
        self._reader.close()


# --- building -----------------------------------------------------------------------------------


def build_eventhouse_source(
    ctx: WorkerContext,
    domain: DomainSource,
    shared: EventSourceSettings,
    backfill: BackfillWindow | None = None,
) -> LeasedSource:
    start_at = eventhouse_pages(ctx, domain, shared, backfill)
    if backfill is None:
        fresh_start = f"{domain.variable('EVENTHOUSE_START_FROM')} (default now - 1 h)"
        return leased_source(ctx, "", fresh_start, start_at)
    fresh_start = f"{backfill.start} (the window start)"
    return leased_source(ctx, backfill.cursor_suffix, fresh_start, start_at)


def eventhouse_pages(
    ctx: WorkerContext,
    domain: DomainSource,
    shared: EventSourceSettings,
    backfill: BackfillWindow | None = None,
) -> Callable[[dict[str, Any] | None], EventhouseSource]:
    """The Eventhouse pages after a stored position (None: a first start); ConfigError at once
    if the settings are unusable."""
    options = domain.eventhouse
    cluster_url, database = _location(domain, shared)
    start_from = _start_from(domain)
    credential = None
    if shared.eventhouse_auth is EventhouseAuth.AZURE:
        from vpipe_core.azure_auth import shared_credential

        credential = shared_credential(ctx.env)
    proxy = shared.eventhouse_proxy_url or ProxyConfig.from_env(ctx.env).proxy_for(cluster_url)
    trusted = ca_bundle(ctx.settings.ca_bundle, ctx.env)
    window_end = None if backfill is None else tick_after(backfill.end)

    def start_at(state: dict[str, Any] | None) -> EventhouseSource:
        if state is not None:
            position = Position.from_state(state)
        elif backfill is not None:
            position = backfill.first_position()
        else:
            position = _first_position(start_from, domain)
        reader = EventhouseReader(
            lambda: kusto_client(cluster_url, database, credential, proxy, trusted),
            credential,
            database,
            options.table,
            options.batch_size,
            options.query_timeout_s,
            ctx.spec.name,
        )
        log.info("eventhouse position", extra={"after": [*position.at]})
        return EventhouseSource(
            reader,
            position,
            domain.publish_row,
            options.poll_interval_s,
            options.settle_s,
            window_end,
        )

    log.info(
        "eventhouse source",
        extra={
            "cluster_url": cluster_url,
            "database": database,
            "table": options.table.name,
            "time_column": options.table.time_column or "ingestion_time()",
            "batch_size": options.batch_size,
            "proxy": _without_credentials(proxy),
            "ca_bundle": trusted,
            "backfill": None if backfill is None else [backfill.start, backfill.end],
        },
    )
    return start_at


def _without_credentials(url: str | None) -> str | None:
    if not url:
        return None
    parts = urlsplit(url)
    host = parts.hostname or ""
    return parts._replace(netloc=host if parts.port is None else f"{host}:{parts.port}").geturl()


def _location(domain: DomainSource, shared: EventSourceSettings) -> tuple[str, str]:
    options, problems = domain.eventhouse, []
    variable = domain.variable("EVENTHOUSE_CLUSTER_URL")
    cluster_url = (options.cluster_url or shared.eventhouse_cluster_url or "").strip()
    if not cluster_url:
        problems.append(
            f"{variable}: required when the {domain.domain.upper()} event source is eventhouse "
            "(or set EVENTHOUSE_CLUSTER_URL)"
        )
    elif not cluster_url.startswith("https://") and shared.eventhouse_auth is EventhouseAuth.AZURE:
        problems.append(
            f"{variable}: got '{cluster_url}', expected an https:// URL (plain http only with "
            "EVENTHOUSE_AUTH=none, for a local server that takes no token)"
        )
    database = (options.database or "").strip()
    if not database:
        problems.append(
            f"{domain.variable('EVENTHOUSE_DATABASE')}: required when the "
            f"{domain.domain.upper()} event source is eventhouse"
        )
    table = options.table
    if TABLE_NAME.fullmatch(table.name) is None:
        problems.append(
            f"{domain.variable('EVENTHOUSE_SOURCE_TABLE')}: got '{table.name}', "
            "expected a table name"
        )
    if table.time_column is not None and TABLE_NAME.fullmatch(table.time_column) is None:
        problems.append(
            f"{domain.variable('EVENTHOUSE_TIME_COLUMN')}: got '{table.time_column}', "
            "expected a column name (empty for ingestion_time())"
        )
    if problems:
        raise ConfigError(problems)
    return cluster_url, database


def eventhouse_problems(domain: DomainSource, shared: EventSourceSettings) -> list[str]:
    """What `build_eventhouse_source` would refuse, without connecting."""
    problems: list[str] = []
    for check in (lambda: _location(domain, shared), lambda: _start_from(domain)):
        try:
            check()
        except ConfigError as exc:
            problems += exc.problems
    return problems


def _start_from(domain: DomainSource) -> datetime | None:
    text = domain.eventhouse.start_from
    if not text:
        return None
    try:
        return parse_iso_utc(text)
    except ValueError:
        raise ConfigError(
            [f"{domain.variable('EVENTHOUSE_START_FROM')}: got '{text}', expected an ISO-8601 time"]
        ) from None


def _first_position(start_from: datetime | None, domain: DomainSource) -> Position:
    """A first start: just before <DOMAIN>_EVENTHOUSE_START_FROM, else 1 h ago."""
    variable = domain.variable("EVENTHOUSE_START_FROM")
    if start_from is not None:
        log.info(
            f"no cursor yet: starting at {variable}", extra={"start": ingestion_time(start_from)}
        )
        return Position(tick_before(start_from), "")
    start = datetime.now(UTC) - DEFAULT_LOOKBACK
    log.warning(
        f"no cursor yet and {variable} is not set: starting from now - 1 h",
        extra={"start": ingestion_time(start)},
    )
    return Position(tick_before(start), "")
