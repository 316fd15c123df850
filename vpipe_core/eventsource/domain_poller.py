"""A domain's poller from the domain's facts: its name, raw topic, settings class, cursor key and
how a row or an Event Hub record is published. The domain's `poller.py` declares one
`DomainPoller` and names its `build` and `config_problems` in the worker spec.

The domain's settings class derives from `DomainSettings` (`<DOMAIN>_EVENT_SOURCE`,
`<DOMAIN>_EVENTHOUSE_*`, `<DOMAIN>_EVENTHUB_*`, `<DOMAIN>_SAMPLE_EVENTS_FILE`); its bundled
sample events are `vpipe_<domain>/data/<domain>_events.jsonl`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from importlib.resources import files
from pathlib import Path
from typing import Any

import attrs

from vpipe_core.context import WorkerContext
from vpipe_core.domain.settings import DomainSettings
from vpipe_core.eventsource.build import build_source, poller_problems
from vpipe_core.eventsource.domain import (
    DomainSource,
    EventhouseOptions,
    EventhouseTable,
    EventHubOptions,
    RecordPublisher,
    RowPublisher,
)
from vpipe_core.loop.source import Source


def _table_time(_: Any) -> str | None:
    return None  # the table's own ingestion_time()


@attrs.frozen
class DomainPoller:
    """`time_column` reads the settings' time column (None: the table's `ingestion_time()`);
    `replay_id_fields` get `-r<pass>` from a sample file's second pass on."""

    domain: str
    topic: str
    settings_class: type[DomainSettings]
    cursor_key: str
    publish_row: RowPublisher
    publish_record: RecordPublisher
    replay_id_fields: tuple[str, ...]
    time_column: Callable[[Any], str | None] = _table_time

    def build(self, ctx: WorkerContext) -> Source:
        """The source named by the settings; ConfigError / StartupError (exit 2) if unusable."""
        return build_source(ctx, self.source(ctx.settings_for(self.settings_class)))

    def config_problems(self, env: Mapping[str, str], _deployment: bool) -> list[str]:
        """The poller's `config_check` (`vpipe_core.config.startup`)."""
        return poller_problems(env, self.settings_class, self.source)

    def source(self, settings: DomainSettings) -> DomainSource:
        table = EventhouseTable(
            settings.eventhouse_source_table, self.cursor_key, self.time_column(settings)
        )
        return DomainSource(
            domain=self.domain,
            topic=self.topic,
            event_source=settings.event_source,
            eventhouse=EventhouseOptions(
                cluster_url=settings.eventhouse_cluster_url,
                database=settings.eventhouse_database,
                table=table,
                batch_size=settings.poll_batch_size,
                poll_interval_s=settings.poll_interval_s,
                query_timeout_s=settings.query_timeout_s,
                settle_s=settings.settle_s,
                start_from=settings.start_from,
            ),
            eventhub=EventHubOptions(settings.eventhub_name, settings.eventhub_consumer_group),
            sample_file=settings.sample_events_file or self.bundled_events_file(),
            publish_row=self.publish_row,
            publish_record=self.publish_record,
            replay_id_fields=self.replay_id_fields,
        )

    def bundled_events_file(self) -> Path:
        return Path(str(files(f"vpipe_{self.domain}") / "data" / f"{self.domain}_events.jsonl"))
