"""The retry scheduler: a handler over a domain's tier topics (runtime.md §5).

Each tier has one constant delay, so records of a partition become due in order; when the head is
not due the handler answers `Defer`, and the loop pauses that partition and seeks back to it.
Kafka is the only store: nothing is queued in memory or written to disk.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from vpipe_core.context import WorkerContext
from vpipe_core.ops import metrics
from vpipe_core.outcome import Category, Dead, Defer, Done, Outcome, Output
from vpipe_core.record import Record
from vpipe_core.retry.envelope import DUE_AT, REDELIVERED_AT, TARGET, due_at
from vpipe_core.retry.topics import tier_delay
from vpipe_core.spec import Kind, RetryMode, WorkerSpec
from vpipe_core.values.timestamps import iso_utc, parse_iso_utc


def scheduler_spec(domain: str, port_base: int, **overrides: object) -> WorkerSpec:
    """The `<domain>-retry-scheduler` spec a domain registers as one of its workers."""
    fields: dict[str, object] = {
        "name": f"{domain}-retry-scheduler",
        "domain": domain,
        "handler": "vpipe_core.retry.scheduler:build",
        "kind": Kind.RECORD,
        "retry_mode": RetryMode.INPLACE,
        "consumes_retry_tiers": True,
        "max_instances": 1,
        "port_base": port_base,
        "description": f"redelivers due {domain} retry-tier records to their target topic",
    }
    fields.update(overrides)
    return WorkerSpec(**fields)  # type: ignore[arg-type]


class RetryScheduler:
    def __init__(
        self,
        domain: str,
        retryable_targets: frozenset[str],
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._domain = domain
        self._targets = retryable_targets
        self._clock = clock

    def handle(self, record: Record) -> Outcome:
        target, due_text = record.header(TARGET), record.header(DUE_AT)
        if not target or not due_text:
            return _invalid(f"missing {TARGET if not target else DUE_AT} header")
        try:
            due = parse_iso_utc(due_text)
        except ValueError:
            return _invalid(f"{DUE_AT} is not an ISO-8601 time: {due_text[:64]!r}")
        if target not in self._targets:
            return Dead(
                f"target topic {target!r} is not a retryable {self._domain} topic",
                Category.PERMANENT,
                reason="unknown_target",
            )
        now = self._clock()
        delay = tier_delay(record.topic)
        tier = f"{delay or '?'}s"
        due = min(due, _latest_due(record, delay or 0, now))
        if due > now:
            return Defer(due)
        metrics.retry_forwarded.labels(self._domain, tier).inc()
        metrics.retry_head_overdue.labels(self._domain, tier).set((now - due).total_seconds())
        headers = [(k, v) for k, v in record.headers if k != REDELIVERED_AT]
        headers.append((REDELIVERED_AT, iso_utc(now).encode()))
        return Done((Output(target, record.value, record.key, headers),))


def _latest_due(record: Record, delay_s: int, now: datetime) -> datetime:
    """A due time no tier record may pass (its write time, the tier's delay and the Retry-After
    cap), whatever its header says: a far-future vpipe_due_at must not hold the partition."""
    written = now
    timestamp = record.message.timestamp() if record.message is not None else None
    if timestamp and timestamp[1] > 0:
        written = datetime.fromtimestamp(timestamp[1] / 1000, UTC)
    return due_at(written, delay_s, datetime.max.replace(tzinfo=UTC))


def _invalid(error: str) -> Dead:
    return Dead(error, Category.PERMANENT, reason="invalid_envelope")


def retryable_targets(domain: str) -> frozenset[str]:
    """Input topics of the domain's tier-retrying workers: the only valid redelivery targets."""
    from vpipe_core.registry import load_all_workers

    specs, _ = load_all_workers()
    return frozenset(
        topic
        for spec in specs
        if spec.domain == domain and spec.retry_mode is RetryMode.TIERS
        for topic in spec.input_topics
    )


def build(ctx: WorkerContext) -> RetryScheduler:
    return RetryScheduler(ctx.domain, retryable_targets(ctx.domain))
