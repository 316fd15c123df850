"""`claimx-enricher` (claimx.md §7): enrichment tasks become entity rows and media downloads.

Per batch: parse and validate each task (invalid → dead); plan the API calls (E1 for project
events and cache-miss pre-flights, then E2 per project, E3 per assignment, E4 per project, each
distinct call once) and run them concurrently; per event, any permanent failure → dead, any
transient/auth/circuit-open failure → retry (Retry-After as the earliest time), else done with
its rows, its download tasks and whatever the `enrichment_complete` plugins add. Event types
the enricher does not know are done without outputs (counted `skipped`; no plugins run).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import attrs
from prometheus_client import Counter

from vpipe_claimx import handlers
from vpipe_claimx.api import ClaimxApi
from vpipe_claimx.events import InvalidEvent, parse_task
from vpipe_claimx.fetching import CallKey, Fetched, Fetcher
from vpipe_claimx.handlers import Enriched, EventFailed, EventHandler, Results
from vpipe_claimx.messages import download_output, entities_output
from vpipe_claimx.plugin_context import DOMAIN, STAGE, plugin_context
from vpipe_claimx.project_cache import ProjectCache, TopicPartitionKey, read_project_ids
from vpipe_claimx.settings import ClaimxSettings
from vpipe_core.context import WorkerContext
from vpipe_core.ops.metrics import REGISTRY
from vpipe_core.outcome import Category, Dead, Done, Outcome, Output, Retry
from vpipe_core.plugins.plugin_set import PluginSet
from vpipe_core.plugins.types import matches_name
from vpipe_core.record import Record

log = logging.getLogger("vpipe.claimx.enricher")

events_total = Counter(
    "vpipe_claimx_events_total",
    "ClaimX enrichment outcomes per event type",
    ["event_type", "outcome"],
    registry=REGISTRY,
)

BATCH_MAX_WAIT_S = 1.0
INVALID = "invalid"  # event_type label of tasks that could not be read


def _utc_now() -> datetime:
    return datetime.now(UTC)


@attrs.define
class Job:
    """One valid task of the batch and what it needs."""

    index: int
    record: Record
    task: dict[str, Any]
    handler: EventHandler
    needs_e1: bool = False
    cached_project: Mapping[str, Any] | None = None

    @property
    def project_id(self) -> str:
        return str(self.task["project_id"])


class ClaimxEnricher:
    def __init__(
        self,
        api: ClaimxApi,
        cache: ProjectCache,
        fetcher: Fetcher,
        plugins: PluginSet,
        batch_size: int,
        clock: Callable[[], datetime] = _utc_now,
    ) -> None:
        self.batch_size = batch_size
        self.batch_max_wait_s = BATCH_MAX_WAIT_S
        self._api = api
        self._cache = cache
        self._fetcher = fetcher
        self._plugins = plugins
        self._has_plugins = _any_for_claimx(plugins)
        self._clock = clock

    # -- the loop's interface ---------------------------------------------------------------

    def handle_batch(self, records: Sequence[Record]) -> list[Outcome]:
        outcomes: dict[int, Outcome] = {}
        jobs = []
        for index, record in enumerate(records):
            job_or_outcome = self._job(index, record)
            if isinstance(job_or_outcome, Job):
                jobs.append(job_or_outcome)
            else:
                outcomes[index] = job_or_outcome
        results = self._fetch(jobs)
        for job in jobs:
            outcomes[job.index] = self._finish(job, results)
        return [outcomes[index] for index in range(len(records))]

    def on_commit(self, positions: dict[TopicPartitionKey, int]) -> None:
        self._cache.on_commit(positions)

    def on_revoke(self, partitions: list[Any]) -> None:
        self._cache.release({(tp.topic, tp.partition) for tp in partitions})

    def close(self) -> None:
        self._fetcher.close()
        self._api.close()

    # -- parsing ----------------------------------------------------------------------------

    def _job(self, index: int, record: Record) -> Job | Outcome:
        try:
            task = parse_task(record.value)
        except InvalidEvent as exc:
            events_total.labels(INVALID, "dead").inc()
            return Dead(f"invalid enrichment task: {exc}")
        handler = handlers.handler_for(task)
        if handler is None:
            events_total.labels(task["event_type"], "skipped").inc()
            log.debug("event type %s is not enriched", task["event_type"], extra=_fields(task))
            return Done()
        missing = handlers.missing_fields(task, handler)
        if missing:
            events_total.labels(task["event_type"], "dead").inc()
            return Dead(f"invalid enrichment task: {task['event_type']} needs {', '.join(missing)}")
        return Job(index, record, task, handler)

    # -- API calls --------------------------------------------------------------------------

    def _fetch(self, jobs: list[Job]) -> Results:
        """E1 first (pre-flight), then the events' own calls for those whose E1 succeeded."""
        for job in jobs:
            job.needs_e1 = self._needs_project_fetch(job)
        first = self._call({("E1", job.project_id) for job in jobs if job.needs_e1}, {})
        ready = [job for job in jobs if not job.needs_e1 or _ok(first, ("E1", job.project_id))]
        wanted_media: dict[str, set[str]] = defaultdict(set)
        for job in ready:
            if job.task["event_type"] == "PROJECT_FILE_ADDED":
                wanted_media[job.project_id].add(job.task["media_id"])
        own_keys = {key for job in ready if (key := job.handler.call(job.task)) is not None}
        return Results({**first, **self._call(own_keys, wanted_media)})

    def _needs_project_fetch(self, job: Job) -> bool:
        """E1 always for project events; else on a cache miss (the pre-flight), or when plugins
        will want the project and the cache holds no row body for it (a preloaded entry)."""
        if job.handler.always_e1:
            return True
        entry = self._cache.lookup(job.project_id)
        if entry is None:
            return True
        job.cached_project = entry.row
        return entry.row is None and self._has_plugins

    def _call(
        self, keys: set[CallKey], wanted_media: Mapping[str, set[str]]
    ) -> dict[CallKey, Fetched]:
        calls = {key: handlers.api_call(self._api, key, wanted_media) for key in sorted(keys)}
        return self._fetcher.fetch(calls)

    # -- outcomes ---------------------------------------------------------------------------

    def _finish(self, job: Job, results: Results) -> Outcome:
        try:
            enriched = handlers.enrich(job.task, job.handler, job.needs_e1, results)
            outputs = self._outputs(job, enriched)
        except Exception as error:
            return self._failed(job, handlers.failure_of(error))
        if enriched.fetched_project is not None:
            position = (job.record.topic, job.record.partition, job.record.offset)
            self._cache.stage(position, job.project_id, enriched.fetched_project)
        events_total.labels(job.task["event_type"], "done").inc()
        return Done(tuple(outputs))

    def _outputs(self, job: Job, enriched: Enriched) -> list[Output]:
        headers: Mapping[str, str] = {}
        outputs: list[Output] = []
        downloads = enriched.downloads
        if self._has_plugins:
            stage = self._plugins.run(self._plugin_context(job, enriched))
            headers, outputs = stage.headers, list(stage.outputs)
            if stage.filtered:
                downloads = []
        if len(enriched.rows):
            outputs.insert(0, entities_output(job.task, enriched.rows, headers))
        outputs += [download_output(download, headers) for download in downloads]
        return outputs

    def _plugin_context(self, job: Job, enriched: Enriched) -> Any:
        project = enriched.fetched_project or job.cached_project
        if project is None:  # cannot happen: such events fetch E1 (see _needs_project_fetch)
            raise EventFailed(Category.TRANSIENT, f"no project row for {job.project_id}")
        return plugin_context(
            job.task,
            enriched.rows,
            project,
            enriched.downloads,
            self._api,
            job.record.attempt,
            self._clock(),
        )

    def _failed(self, job: Job, failure: EventFailed) -> Outcome:
        fields = {**_fields(job.task), "error_category": str(failure.category)}
        log.warning("enrichment failed: %s", failure, extra={**fields, "error": str(failure)})
        if failure.category == Category.PERMANENT:
            events_total.labels(job.task["event_type"], "dead").inc()
            return Dead(str(failure), failure.category)
        events_total.labels(job.task["event_type"], "retry").inc()
        not_before = None
        if failure.retry_after_s:
            not_before = self._clock() + timedelta(seconds=failure.retry_after_s)
        return Retry(str(failure), failure.category, not_before)


def _any_for_claimx(plugins: PluginSet) -> bool:
    """Whether any enabled plugin may run for ClaimX at `enrichment_complete`."""
    return any(
        plugin.enrich is not None
        and matches_name(plugin.info.domains, DOMAIN)
        and matches_name(plugin.info.stages, STAGE)
        for plugin in plugins.plugins
    )


def _ok(fetched: Mapping[CallKey, Fetched], key: CallKey) -> bool:
    found = fetched.get(key)
    return found is not None and found.error is None


def _fields(task: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "trace_id": task.get("event_id"),
        "event_id": task.get("event_id"),
        "event_type": task.get("event_type"),
        "project_id": task.get("project_id"),
    }


def build(ctx: WorkerContext) -> ClaimxEnricher:
    settings = ctx.settings_for(ClaimxSettings)
    api = ClaimxApi.from_settings(settings, ctx.settings.ca_bundle, env=ctx.env)
    cache = ProjectCache(settings.project_cache_ttl_s)
    if settings.project_cache_preload:
        _preload(cache, settings.delta_projects_table)
    return ClaimxEnricher(
        api,
        cache,
        Fetcher(settings.api_concurrency),
        ctx.plugins(),
        settings.enrich_batch_size,
    )


def _preload(cache: ProjectCache, table_uri: str | None) -> None:
    """Best effort: without the ids every project simply takes its first pre-flight."""
    if not cache.enabled:
        return
    if not table_uri:
        log.warning("CLAIMX_PROJECT_CACHE_PRELOAD needs CLAIMX_DELTA_PROJECTS_TABLE; not preloaded")
        return
    try:
        added = cache.preload(read_project_ids(table_uri))
    except Exception as exc:
        log.warning("project cache preload from %s failed: %s", table_uri, exc)
        return
    log.info("project cache preloaded with %d project ids", added)
