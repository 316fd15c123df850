"""The worker specs every domain builds alike, from the domain's facts: its name, its topics, and
per worker the name, port and whatever differs (`overrides`, any `WorkerSpec` field).

Handlers follow one module convention, `vpipe_<domain>.<role>:build` (a poller's config check
`vpipe_<domain>.poller:config_problems`), so the same role has the same module in every domain.
"""

from __future__ import annotations

from typing import Any

import attrs

from vpipe_core.spec import Kind, RetryMode, WorkerSpec

CACHE_DIR_CHECK = "vpipe_core.transfer.cache_dir:cache_dir_problems"


@attrs.frozen
class DomainTopics:
    raw: str
    enrichment: str
    downloads: str
    cached: str
    results: str


@attrs.frozen
class DomainWorkers:
    domain: str
    topics: DomainTopics

    def spec(self, role: str, port_base: int, **fields: Any) -> WorkerSpec:
        """`<domain>-<role>` (unless `name` is given), handled by `vpipe_<domain>.<role>:build`."""
        defaults: dict[str, Any] = {
            "name": f"{self.domain}-{role.replace('_', '-')}",
            "domain": self.domain,
            "handler": f"{self.package}.{role}:build",
            "port_base": port_base,
        }
        return WorkerSpec(**{**defaults, **fields})

    @property
    def package(self) -> str:
        return f"vpipe_{self.domain}"

    def poller(self, port_base: int, **overrides: Any) -> WorkerSpec:
        raw = self.topics.raw
        defaults = {
            "config_check": f"{self.package}.poller:config_problems",
            "output_topics": (raw,),
            "kind": Kind.SOURCE,
            "retry_mode": RetryMode.INPLACE,
            # one active, the others stand by (eventsource.lease); one per host is enough
            "max_instances": 2,
            "description": f"publishes new Eventhouse (or Event Hub, or sample) events to {raw}",
        }
        return self.spec("poller", port_base, **{**defaults, **overrides})

    def ingester(self, port_base: int, **overrides: Any) -> WorkerSpec:
        defaults = {
            "input_topics": (self.topics.raw,),
            "output_topics": (self.topics.enrichment,),
            "retry_mode": RetryMode.INPLACE,
            "description": "validates raw events, drops duplicates, emits enrichment tasks",
            "changelog_hours": 24,  # the dedup window
            "changelog_hours_setting": f"{self.domain.upper()}_DEDUP_WINDOW_HOURS",
        }
        return self.spec("ingester", port_base, **{**defaults, **overrides})

    def delta_writer(self, port_base: int, **overrides: Any) -> WorkerSpec:
        defaults = {
            "input_topics": (self.topics.raw,),
            "kind": Kind.BATCH,
            "retry_mode": RetryMode.INPLACE,
            "memory_max": "1G",
        }
        return self.spec("delta_writer", port_base, **{**defaults, **overrides})

    def download(self, port_base: int, **overrides: Any) -> WorkerSpec:
        topics = self.topics
        defaults = {
            "input_topics": (topics.downloads,),
            "output_topics": (topics.cached, topics.results),
            "recommended_instances": 4,
            "changelog_hours": 24,  # a media handed off within 24 h is done without a request
            "config_check": CACHE_DIR_CHECK,
        }
        return self._transfer("download", port_base, **{**defaults, **overrides})

    def upload(self, port_base: int, **overrides: Any) -> WorkerSpec:
        topics = self.topics
        defaults = {
            "input_topics": (topics.cached,),
            "output_topics": (topics.results, topics.downloads),
            "recommended_instances": 2,
        }
        return self._transfer("upload", port_base, **{**defaults, **overrides})

    def result_processor(self, port_base: int, **overrides: Any) -> WorkerSpec:
        tables = f"{self.domain}_attachments and {self.domain}_attachments_failed"
        defaults = {
            "input_topics": (self.topics.results,),
            "kind": Kind.BATCH,
            "retry_mode": RetryMode.INPLACE,
            "description": f"merges download results into {tables}",
        }
        return self.spec("result_processor", port_base, **{**defaults, **overrides})

    def table_maintenance(self, port_base: int, **overrides: Any) -> WorkerSpec:
        """Compacts, checkpoints and vacuums the tables the domain declares (`vpipe.tables`)."""
        defaults = {
            "handler": "vpipe_core.tables.worker:build",
            "kind": Kind.SOURCE,
            "retry_mode": RetryMode.INPLACE,
            "memory_max": "2G",  # the Delta process rewrites files of up to TABLES_TARGET_FILE_MB
            "description": f"keeps the {self.domain} Delta tables compact, checkpointed, vacuumed",
        }
        return self.spec("table_maintenance", port_base, **{**defaults, **overrides})

    def _transfer(self, role: str, port_base: int, **fields: Any) -> WorkerSpec:
        """The download and upload workers: many instances."""
        defaults = {
            "max_instances": 10,
            "memory_max": "2G",
            "cpu_quota": "150%",
        }
        return self.spec(role, port_base, **{**defaults, **fields})
