"""The ClaimX part of `vpipe demo`: generated projects on the fake ClaimX API, their events
served by the Kusto stand-in, every worker of the domain.

Each project contributes, in order: PROJECT_CREATED, one PROJECT_FILE_ADDED per media item,
CUSTOM_TASK_ASSIGNED and _COMPLETED, POLICYHOLDER_INVITED, VIDEO_COLLABORATION_COMPLETED.
Faults (`--fault-rate`), spread evenly: an event of a project the API does not know (404:
dead at the enricher), a non-numeric task assignment id (dead at the ingester), a project whose
first API call answers 429, and a project whose first media list answers 503 (both retried
through a tier, then enriched).
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import attrs

from vpipe_claimx import topics
from vpipe_claimx.events import canonical_time, raw_message
from vpipe_testing.demo import (
    Accounting,
    DemoOptions,
    DemoScenario,
    DemoServices,
    InputDuplicates,
    MetricsSnapshot,
    checksum_problems,
    latency_details,
    query_hint,
    repeated,
    table_count,
    table_rows,
)

FIRST_PROJECT = 7_100_001
UNKNOWN_PROJECT_BASE = 9_900_000
MEDIA_PER_PROJECT = 3
API_LATENCY_S = 0.05  # the fake API answers each call after this, as a real server would
FAULTS = ("unknown_project", "bad_task_id", "throttled", "unavailable")
SOURCE_COLUMNS = (
    "eventType",
    "projectId",
    "mediaId",
    "taskAssignmentId",
    "videoCollaborationId",
    "masterFileName",
)
ENTITY_TABLES = (
    "claimx_projects",
    "claimx_contacts",
    "claimx_attachment_metadata",
    "claimx_tasks",
    "claimx_task_templates",
    "claimx_external_links",
    "claimx_video_collab",
)


@attrs.define
class Generated:
    rows: list[dict[str, Any]] = attrs.field(factory=list)
    event_ids: list[str] = attrs.field(factory=list)  # expected in claimx_events
    dead: set[str] = attrs.field(factory=set)  # event ids expected in claimx.dlq
    media: set[str] = attrs.field(factory=set)  # media ids expected in claimx_attachments
    projects: set[str] = attrs.field(factory=set)
    throttled: set[str] = attrs.field(factory=set)  # projects whose first E1 answers 429
    unavailable: set[str] = attrs.field(factory=set)  # projects whose first E2 answers 503


def project_events(project_id: str, media_ids: list[str], assignment_id: str) -> list[dict]:
    base: dict[str, Any] = {"projectId": project_id}
    return [
        {**base, "eventType": "PROJECT_CREATED"},
        *({**base, "eventType": "PROJECT_FILE_ADDED", "mediaId": m} for m in media_ids),
        {**base, "eventType": "CUSTOM_TASK_ASSIGNED", "taskAssignmentId": assignment_id},
        {**base, "eventType": "CUSTOM_TASK_COMPLETED", "taskAssignmentId": assignment_id},
        {**base, "eventType": "POLICYHOLDER_INVITED"},
        {**base, "eventType": "VIDEO_COLLABORATION_COMPLETED"},
    ]


def generate(options: DemoOptions, start: datetime) -> Generated:
    """The events, with ingestion times from `start` (`options.rate` a second: the source offers
    them at that rate); deterministic otherwise."""
    from vpipe_testing.claimx.fake_data import generated_assignment_id, generated_media_ids

    rng = random.Random(options.seed)
    out = Generated()
    project = FIRST_PROJECT
    while len(out.rows) < options.events:
        project_id = str(project)
        fault = FAULTS[project % len(FAULTS)] if rng.random() < options.fault_rate else None
        media = generated_media_ids(project_id, MEDIA_PER_PROJECT)
        events = project_events(project_id, media, generated_assignment_id(project_id))
        if fault == "unknown_project":
            events = [{**events[0], "projectId": str(UNKNOWN_PROJECT_BASE + project)}]
        elif fault == "bad_task_id":
            events[-3] = {**events[-3], "taskAssignmentId": f"TA-{project}"}
        for event in events[: options.events - len(out.rows)]:
            when = start + timedelta(seconds=len(out.rows) / options.rate)
            _add(out, {**event, "IngestionTime": canonical_time(when)}, fault)
        if fault == "throttled":
            out.throttled.add(project_id)
        elif fault == "unavailable":
            out.unavailable.add(project_id)
        project += 1
    return out


def _add(out: Generated, row: dict[str, Any], fault: str | None) -> None:
    message = raw_message(row)
    out.rows.append(row)
    out.event_ids.append(message["event_id"])
    bad_task = not str(row.get("taskAssignmentId") or "0").isdigit()
    if fault == "unknown_project" or bad_task:
        out.dead.add(message["event_id"])
        return
    out.projects.add(row["projectId"])
    if row["eventType"] == "PROJECT_FILE_ADDED":
        out.media.add(row["mediaId"])


class ClaimxDemoRun:
    def __init__(
        self,
        services: DemoServices,
        options: DemoOptions,
        generated: Generated,
        env: Mapping[str, str],
        kusto: Any,
        api: Any,
    ) -> None:
        self.env = env
        self._options = options
        self._kusto = kusto
        self._api = api
        self._services = services
        self._generated = generated
        self._dlq = services.tail("claimx.dlq")
        self._rows = 0
        self._again: InputDuplicates | None = None
        self._pending: deque[dict[str, Any]] = deque()
        self._next_project = FIRST_PROJECT + 1_000_000  # after any generated project

    def feed(self) -> None:
        """The rows reach the table now: ingestion times (and so event ids) start now."""
        self._generated = generate(self._options, datetime.now(UTC))
        self._kusto.add_rows(self._generated.rows)

    def offer(self, count: int) -> list[str]:
        """`count` new events ingested now: the events of projects after the generated ones,
        in order (no faults); their event ids (the raw keys)."""
        from vpipe_testing.claimx.fake_data import generated_assignment_id, generated_media_ids

        while len(self._pending) < count:
            project_id = str(self._next_project)
            media = generated_media_ids(project_id, MEDIA_PER_PROJECT)
            events = project_events(project_id, media, generated_assignment_id(project_id))
            self._pending.extend(events)
            self._next_project += 1
        now = canonical_time(datetime.now(UTC))
        rows = [{**self._pending.popleft(), "IngestionTime": now} for _ in range(count)]
        self._kusto.add_rows(rows)
        return [raw_message(row)["event_id"] for row in rows]

    def forget_read(self, before: datetime) -> None:
        """Drop the stand-in's rows ingested before `before` (the poller has read them)."""
        self._kusto.forget_before(before)

    def feed_duplicates(self, count: int) -> int:
        """The first `count` valid events again, ingested now with their event ids: the ingester
        must drop them (claimx_events would merge them away anyway)."""
        generated, now = self._generated, canonical_time(datetime.now(UTC))
        pairs = [
            (row, event_id)
            for row, event_id in zip(generated.rows, generated.event_ids, strict=True)
            if event_id not in generated.dead
        ][:count]
        self._again = InputDuplicates(self._services, topics.ENRICHMENT, (e for _, e in pairs))
        self._kusto.add_rows([{**row, "eventId": e, "IngestionTime": now} for row, e in pairs])
        return len(pairs)

    def progress(self, metrics: MetricsSnapshot) -> list[tuple[str, int]]:
        return [
            ("events", metrics.produced(topics.RAW)),
            ("tasks", metrics.produced(topics.ENRICHMENT)),
            ("entities", metrics.produced(topics.ENTITIES)),
            ("downloads", metrics.produced(topics.DOWNLOADS)),
            ("cached", metrics.produced(topics.CACHED)),
            ("results", metrics.produced(topics.RESULTS)),
            ("rows", self._rows),
            ("retries", metrics.total("vpipe_retry_routed_total", domain="claimx")),
            ("dlq", metrics.total("vpipe_dlq_messages_total", domain="claimx")),
        ]

    def account(self, final: bool) -> Accounting:
        tables = self._services.tables
        written = [r["event_id"] for r in table_rows(tables / "claimx_events", ["event_id"])]
        self._rows = len(written)
        inventory = table_rows(tables / "claimx_attachments", ["media_id", "blob_path"])
        stored = {str(r["media_id"]) for r in inventory}
        projects = {
            str(r["project_id"]) for r in table_rows(tables / "claimx_projects", ["project_id"])
        }
        self._dlq.read_new()
        dead_keys = {record.key().decode() for record in self._dlq.records if record.key()}
        generated = self._generated
        expected = set(generated.event_ids)
        missing = sorted(expected - set(written))
        missing += [f"dead letter for {e}" for e in sorted(generated.dead - dead_keys)]
        missing += [f"media {m}" for m in sorted(generated.media - stored)]
        missing += [f"project {p}" for p in sorted(generated.projects - projects)]
        if final:
            missing += self._bad_files(inventory)
        return Accounting(
            events=len(generated.rows),
            written=len(set(written) & expected),
            dead=len(generated.dead & dead_keys),
            missing=tuple(missing),
            duplicated=(repeated(written) + self._passed()) if final else (),
            details=self._table_counts() if final else (),
        )

    def _passed(self) -> tuple[str, ...]:
        return self._again.passed() if self._again is not None else ()

    def _bad_files(self, inventory: list[dict[str, Any]]) -> list[str]:
        """Inventory rows whose stored file is absent or differs from what the API served."""
        return checksum_problems(
            (
                f"media {row['media_id']}",
                self._services.onelake / "claimx" / row["blob_path"],
                self._api.file_sha256(str(row["media_id"])),
            )
            for row in inventory
        )

    def _table_counts(self) -> tuple[tuple[str, object], ...]:
        tables = self._services.tables
        counts = [(name, table_count(tables / name)) for name in ENTITY_TABLES]
        return (
            *latency_details(tables / "claimx_events"),
            *((f"rows in {name}", count) for name, count in counts),
            ("media stored (claimx_attachments)", table_count(tables / "claimx_attachments")),
            ("dead letters in claimx.dlq", len(self._dlq.records)),
            ("projects throttled once (429)", len(self._generated.throttled)),
            ("projects with a 503 media list once", len(self._generated.unavailable)),
        )

    def outputs(self) -> list[tuple[str, str]]:
        tables = self._services.tables
        return [
            (
                "claimx tables",
                f"{tables}/claimx_events, claimx_projects, ... ({len(ENTITY_TABLES) + 2} more)",
            ),
            ("claimx files", str(self._services.onelake / "claimx")),
            ("query", query_hint(tables / "claimx_projects")),
        ]


def table_env(tables: Path) -> dict[str, str]:
    """CLAIMX_DELTA_*_TABLE for every ClaimX table, under `tables`."""
    names = {
        "EVENTS": "claimx_events",
        "INVENTORY": "claimx_attachments",
        "FAILED": "claimx_attachments_failed",
        "PROJECTS": "claimx_projects",
        "CONTACTS": "claimx_contacts",
        "MEDIA": "claimx_attachment_metadata",
        "TASKS": "claimx_tasks",
        "TASK_TEMPLATES": "claimx_task_templates",
        "EXTERNAL_LINKS": "claimx_external_links",
        "VIDEO_COLLAB": "claimx_video_collab",
    }
    return {f"CLAIMX_DELTA_{key}_TABLE": str(tables / name) for key, name in names.items()}


def prepare(services: DemoServices, options: DemoOptions) -> ClaimxDemoRun:
    from vpipe_testing.attachments import allow_attachments_from
    from vpipe_testing.claimx.fake_api import FakeClaimxApi, Fault
    from vpipe_testing.kusto import KustoStandIn

    generated = generate(options, datetime.now(UTC))  # faults per project; times set by feed
    known = range(FIRST_PROJECT, UNKNOWN_PROJECT_BASE)
    api = services.start(
        FakeClaimxApi(
            generate=lambda pid: pid.isdigit() and int(pid) in known, latency_s=API_LATENCY_S
        )
    )
    for project_id in generated.throttled:
        api.inject(f"/export/project/{project_id}$", Fault.http(429, retry_after=1))
    for project_id in generated.unavailable:
        api.inject(f"/export/project/{project_id}/media$", Fault.http(503))
    kusto = services.start(
        KustoStandIn(
            table="ClaimXEvents",
            database="claimx",
            key_column=None,
            time_column="IngestionTime",
            columns=SOURCE_COLUMNS,
        )
    )
    env = {
        "CLAIMX_EVENT_SOURCE": "eventhouse",
        "CLAIMX_EVENTHOUSE_CLUSTER_URL": kusto.url,
        **kusto.env,
        "CLAIMX_EVENTHOUSE_DATABASE": "claimx",
        "CLAIMX_EVENTHOUSE_POLL_INTERVAL_SECONDS": "1",
        "CLAIMX_EVENTHOUSE_SETTLE_SECONDS": "0",
        "CLAIMX_EVENTHOUSE_START_FROM": (datetime.now(UTC) - timedelta(hours=1)).isoformat(),
        "CLAIMX_API_URL": api.url,
        "CLAIMX_API_TOKEN": api.token,
        **allow_attachments_from(api.url),
        "ONELAKE_BASE_PATH": f"file://{services.onelake}",
        **table_env(services.tables),
    }
    return ClaimxDemoRun(services, options, generated, env, kusto, api)


scenario = DemoScenario(
    name="claimx",
    description="all nine ClaimX workers: Kusto stand-in and fake ClaimX API → entity tables",
    workers=(
        ("claimx-poller", 1),
        ("claimx-ingester", 1),
        ("claimx-delta-writer", 1),
        ("claimx-enricher", 2),
        ("claimx-entity-writer", 1),
        ("claimx-downloader", 2),
        ("claimx-uploader", 2),
        ("claimx-result-processor", 1),
        ("claimx-retry-scheduler", 1),
    ),
    prepare=prepare,
    env={"RETRY_DELAYS": "2,4,8"},
)
