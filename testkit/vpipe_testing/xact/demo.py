"""The XACT part of `vpipe demo`: generated events served by the Kusto stand-in, their
attachments on moto S3, faults on a local file server; every worker of the domain.

Faults (`--fault-rate`), spread evenly over the affected events: a poison row (an unreadable
`utcDateTime`: dead at the ingester and the delta writer), an attachment answering 500 once
(retried through a tier, then stored), an attachment answering 404 (`xact_attachments_failed`),
and an attachment whose first response stalls mid-body for 2 s (slow, then stored). Files go
to OneLake through the real DataLake client: the DFS stand-in over TLS, with tokens from a local
managed-identity endpoint; with faults on, its first uploads answer 503 (retried, then stored).
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import attrs
import orjson

from vpipe_core.transfer.presigned import stored_url
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
    table_rows,
)
from vpipe_xact import topics
from vpipe_xact.events import media_id

SUBTYPES = ("documentsReceived", "firstNoticeOfLossReceived", "estimatePackageReceived", "note")
FILES = (
    ("photo.jpg", "image/jpeg"),
    ("estimate.pdf", "application/pdf"),
    ("scope.xml", "text/xml"),
)
POISON_TIME = "not a time"
ONELAKE_FILESYSTEM = "demo-workspace"
FAULTS = ("poison", "flaky", "missing", "stalled")


@attrs.define
class Generated:
    rows: list[dict[str, Any]] = attrs.field(factory=list)
    valid: set[str] = attrs.field(factory=set)  # trace ids expected in xact_events
    poison: set[str] = attrs.field(factory=set)  # trace ids expected in the DLQ
    attachments: dict[str, str] = attrs.field(factory=dict)  # media id -> "stored" | "failed"
    # url as tables keep it (`stored_url`) -> sha256 of the served bytes
    digests: dict[str, str] = attrs.field(factory=dict)


def generate(services: DemoServices, options: DemoOptions) -> Generated:
    rng = random.Random(options.seed)
    out = Generated()
    start = datetime.now(UTC) - timedelta(minutes=5)
    for number in range(options.events):
        trace = f"demo-{options.seed}-{number:06d}"
        fault = FAULTS[number % len(FAULTS)] if rng.random() < options.fault_rate else None
        files = [
            _stored_file(services, trace, index, rng) for index in range(rng.choice((0, 1, 1, 2)))
        ]
        if fault == "flaky":
            files.append(_fault_file(services, trace, fail_first=1, status=500))
        elif fault == "missing":
            files.append(_fault_file(services, trace, fail_first=1_000_000, status=404))
        elif fault == "stalled":
            files.append(_stalled_file(services, trace))
        out.digests.update((str(stored_url(url)), _sha256(body)) for url, body in files)
        urls = [url for url, _ in files]
        moment = start + timedelta(milliseconds=number)
        out.rows.append(_row(trace, rng.choice(SUBTYPES), number, urls, moment, fault == "poison"))
        if fault == "poison":
            out.poison.add(trace)
            continue
        out.valid.add(trace)
        for url in urls:
            out.attachments[media_id(trace, url)] = "failed" if "/missing/" in url else "stored"
    return out


def _row(
    trace: str, subtype: str, number: int, urls: list[str], moment: datetime, poison: bool
) -> dict[str, Any]:
    return {
        "type": f"verisk.claims.property.xn.{subtype}",
        "version": 1,
        "utcDateTime": POISON_TIME if poison else moment.isoformat(),
        "traceId": trace,
        "data": {
            "assignmentId": f"DEMO{number % 97:04d}",
            "estimateVersion": "1",
            "description": f"demo event {number}",
            "attachments": urls,
        },
    }


def _stored_file(
    services: DemoServices, trace: str, index: int, rng: random.Random
) -> tuple[str, bytes]:
    name, content_type = FILES[rng.randrange(len(FILES))]
    body = (f"{trace}/{index}/{name} " * rng.randint(64, 4096)).encode()
    return services.s3().put(f"xact/{trace}/{index}/{name}", body, content_type), body


def _fault_file(
    services: DemoServices, trace: str, *, fail_first: int, status: int
) -> tuple[str, bytes]:
    from vpipe_testing.http_files import Route

    kind = "flaky" if status == 500 else "missing"
    path = f"/{kind}/{trace}/report.pdf"
    body = f"{trace} report ".encode() * 256
    services.files().add(
        path,
        Route(body=body, content_type="application/pdf", fail_first=fail_first, fail_status=status),
    )
    return services.files().url(path), body


def _stalled_file(services: DemoServices, trace: str) -> tuple[str, bytes]:
    from vpipe_testing.http_files import Route

    path = f"/stalled/{trace}/scan.pdf"
    body = f"{trace} scan ".encode() * 4096
    route = Route(
        body=body,
        content_type="application/pdf",
        stalls=[(16 * 1024, 2.0)],
        stall_times=1,
    )
    services.files().add(path, route)
    return services.files().url(path), body


class XactDemoRun:
    def __init__(
        self,
        services: DemoServices,
        generated: Generated,
        env: Mapping[str, str],
        kusto: Any,
        dfs: Any,
        dfs_faults: int,
    ) -> None:
        self.env = env
        self._kusto = kusto
        self._dfs = dfs
        self._dfs_faults = dfs_faults
        self._services = services
        self._generated = generated
        self._dlq = services.tail("xact.dlq")
        self._rows = 0
        self._again: InputDuplicates | None = None
        self._offered = 0

    def feed(self) -> None:
        """The rows reach the table now: their event and ingestion times are the feeding time."""
        if self._dfs_faults:
            self._dfs.fail_next(self._dfs_faults, 503, operation="flush")
        now = datetime.now(UTC).isoformat()
        for row in self._generated.rows:
            if row["utcDateTime"] != POISON_TIME:
                row["utcDateTime"] = now
        self._kusto.add_rows(self._generated.rows)

    def offer(self, count: int) -> list[str]:
        """`count` new events ingested now, each a copy of a generated valid event (the same
        attachments, stored again under the new trace id); their trace ids (the raw keys)."""
        pool = [row for row in self._generated.rows if row["traceId"] in self._generated.valid]
        now = datetime.now(UTC).isoformat()
        rows = []
        for number in range(self._offered, self._offered + count):
            model = pool[number % len(pool)]
            trace = f"offered-{number:09d}"
            rows.append({**model, "traceId": trace, "utcDateTime": now})
        self._offered += count
        self._kusto.add_rows(rows)
        return [row["traceId"] for row in rows]

    def forget_read(self, before: datetime) -> None:
        """Drop the stand-in's rows ingested before `before` (the poller has read them)."""
        self._kusto.forget_before(before)

    def feed_duplicates(self, count: int) -> int:
        """The first `count` valid events again, ingested now: xact_events appends them a second
        time (xact.md: dedup is left to readers), the ingester must drop them."""
        rows = [r for r in self._generated.rows if r["traceId"] in self._generated.valid][:count]
        traces = [row["traceId"] for row in rows]
        self._again = InputDuplicates(self._services, topics.ENRICHMENT, traces)
        self._kusto.add_rows([dict(row) for row in rows])
        return len(rows)

    def progress(self, metrics: MetricsSnapshot) -> list[tuple[str, int]]:
        return [
            ("events", metrics.produced(topics.RAW)),
            ("tasks", metrics.produced(topics.ENRICHMENT)),
            ("downloads", metrics.produced(topics.DOWNLOADS)),
            ("cached", metrics.produced(topics.CACHED)),
            ("results", metrics.produced(topics.RESULTS)),
            ("rows", self._rows),
            ("retries", metrics.total("vpipe_retry_routed_total", domain="xact")),
            ("dlq", metrics.total("vpipe_dlq_messages_total", domain="xact")),
        ]

    def account(self, final: bool) -> Accounting:
        tables = self._services.tables
        written = [r["trace_id"] for r in table_rows(tables / "xact_events", ["trace_id"])]
        self._rows = len(written)
        inventory = table_rows(
            tables / "xact_attachments", ["media_id", "attachment_url", "blob_path"]
        )
        stored = {r["media_id"] for r in inventory}
        failed = {
            r["media_id"] for r in table_rows(tables / "xact_attachments_failed", ["media_id"])
        }
        self._dlq.read_new()
        dead = self._dead_traces() & self._generated.poison
        written_set = set(written) & self._generated.valid
        missing_files = [m for m in self._generated.attachments if m not in stored | failed]
        if final:
            missing_files += self._bad_files(inventory)
        missing = sorted(self._generated.valid - written_set) + sorted(
            self._generated.poison - dead
        )
        return Accounting(
            events=len(self._generated.rows),
            written=len(written_set),
            dead=len(dead),
            missing=tuple(missing + [f"attachment {m}" for m in missing_files]),
            duplicated=self._duplicated(written) if final else (),
            details=(
                *(latency_details(tables / "xact_events") if final else ()),
                ("OneLake uploads answered 503 (then retried)", self._dfs_faults),
                ("attachments stored", len(stored)),
                ("attachments failed (xact_attachments_failed)", len(failed)),
                ("dead letters in xact.dlq", len(self._dlq.records)),
            ),
        )

    def _duplicated(self, written: list[str]) -> tuple[str, ...]:
        if self._again is None:
            return repeated(written)
        return repeated(written, twice=self._again.ids) + self._again.passed()

    def _bad_files(self, inventory: list[dict[str, Any]]) -> list[str]:
        """Inventory rows whose stored file is absent or differs from the bytes served."""
        return checksum_problems(
            (
                row["media_id"],
                self._dfs.local_path(ONELAKE_FILESYSTEM, f"files/xact/{row['blob_path']}"),
                self._generated.digests.get(row["attachment_url"]),
            )
            for row in inventory
        )

    def _dead_traces(self) -> set[str]:
        traces = set()
        for record in self._dlq.records:
            try:
                traces.add(str(orjson.loads(record.value()).get("traceId")))
            except (orjson.JSONDecodeError, AttributeError):
                continue
        return traces

    def outputs(self) -> list[tuple[str, str]]:
        tables = self._services.tables
        return [
            ("xact tables", f"{tables}/xact_events, xact_attachments, xact_attachments_failed"),
            (
                "xact files",
                f"{self._dfs.local_path(ONELAKE_FILESYSTEM, 'files/xact')} (DFS stand-in)",
            ),
            ("query", query_hint(tables / "xact_events")),
        ]


def table_env(tables: Path) -> dict[str, str]:
    """XACT_DELTA_*_TABLE for every XACT table, under `tables`."""
    names = {
        "EVENTS": "xact_events",
        "INVENTORY": "xact_attachments",
        "FAILED": "xact_attachments_failed",
    }
    return {f"XACT_DELTA_{key}_TABLE": str(tables / name) for key, name in names.items()}


def prepare(services: DemoServices, options: DemoOptions) -> XactDemoRun:
    from vpipe_testing.attachments import allow_attachments_from
    from vpipe_testing.dfs import LocalDfs
    from vpipe_testing.identity import LocalManagedIdentity
    from vpipe_testing.kusto import KustoStandIn

    generated = generate(services, options)
    kusto = services.start(KustoStandIn(table="Events", database="xact"))
    dfs = services.start(LocalDfs(services.onelake, filesystems=[ONELAKE_FILESYSTEM], tls=True))
    identity = services.start(LocalManagedIdentity())
    dfs_faults = round(len(generated.attachments) * options.fault_rate / 4)
    tables = services.tables
    env = {
        "XACT_EVENT_SOURCE": "eventhouse",
        "XACT_EVENTHOUSE_CLUSTER_URL": kusto.url,
        **kusto.env,
        "XACT_EVENTHOUSE_DATABASE": "xact",
        "XACT_EVENTHOUSE_POLL_INTERVAL_SECONDS": "1",
        "XACT_EVENTHOUSE_SETTLE_SECONDS": "0",
        "XACT_EVENTHOUSE_START_FROM": (datetime.now(UTC) - timedelta(hours=1)).isoformat(),
        **table_env(tables),
        **allow_attachments_from(*generated.digests),
        "ONELAKE_BASE_PATH": dfs.url(ONELAKE_FILESYSTEM, "files"),
        **dfs.env,
        "CA_BUNDLE": str(dfs.ca_file),
        **identity.env,
    }
    return XactDemoRun(services, generated, env, kusto, dfs, dfs_faults)


scenario = DemoScenario(
    name="xact",
    description="all eight XACT workers: Kusto stand-in → Delta tables and OneLake (DFS stand-in)",
    workers=(
        ("xact-poller", 1),
        ("xact-event-ingester", 1),
        ("xact-delta-writer", 2),
        ("xact-enricher", 2),
        ("xact-download", 2),
        ("xact-upload", 2),
        ("xact-result-processor", 1),
        ("xact-retry-scheduler", 1),
    ),
    prepare=prepare,
    env={"RETRY_DELAYS": "2,4,8"},
)


def _sha256(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()
