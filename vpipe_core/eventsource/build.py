"""A domain's poller from its description: the source named by `<DOMAIN>_EVENT_SOURCE`, else
EVENT_SOURCE; a backfill run (`vpipe-worker --backfill-from/--backfill-to`) always pages the
Eventhouse table over its window."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from vpipe_core.eventsource.domain import DomainSource
from vpipe_core.eventsource.settings import EventSource, EventSourceSettings
from vpipe_core.loop.source import Source

if TYPE_CHECKING:
    from vpipe_core.context import WorkerContext

log = logging.getLogger("vpipe.eventsource")


def build_source(ctx: WorkerContext, domain: DomainSource) -> Source:
    """The source for `domain`; ConfigError / StartupError (exit 2) if it is unusable."""
    shared = ctx.settings_for(EventSourceSettings)
    backfill = ctx.backfill
    if backfill is not None:
        from vpipe_core.eventsource.eventhouse_source import build_eventhouse_source

        log.info("backfill run", extra={"start": backfill.start, "end": backfill.end})
        return build_eventhouse_source(ctx, domain, shared, backfill)
    source = domain.event_source or shared.event_source
    log.info(f"{domain.domain} poller source", extra={"source": source.value})
    if source is EventSource.SAMPLE:
        from vpipe_core.eventsource.sample import build_sample_source

        return build_sample_source(ctx, domain, shared.sample_events_per_minute)
    if source is EventSource.EVENTHUB:
        from vpipe_core.eventsource.eventhub import build_eventhub_source

        return build_eventhub_source(ctx, domain, shared)
    from vpipe_core.eventsource.eventhouse_source import build_eventhouse_source

    return build_eventhouse_source(ctx, domain, shared)


def source_problems(domain: DomainSource, shared: EventSourceSettings) -> list[str]:
    """What `build_source` would refuse for `domain`'s configured source, without connecting."""
    source = domain.event_source or shared.event_source
    if source is EventSource.EVENTHOUSE:
        from vpipe_core.eventsource.eventhouse_source import eventhouse_problems

        return eventhouse_problems(domain, shared)
    if source is EventSource.EVENTHUB:
        from vpipe_core.eventsource.eventhub import eventhub_problems

        return eventhub_problems(domain, shared)
    return []


def poller_problems(
    env: Mapping[str, str], settings_class: type, describe: Callable[[Any], DomainSource]
) -> list[str]:
    """A domain poller's `config_check`: its source's problems under `env`. (Settings that do
    not load are reported by the settings check itself.)"""
    from vpipe_core.config.loader import ConfigError, load_settings

    try:
        settings: Any = load_settings(settings_class, env)
        shared = load_settings(EventSourceSettings, env)
    except ConfigError:
        return []
    return source_problems(describe(settings), shared)
