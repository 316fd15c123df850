"""Turns a handler outcome into the records to produce (runtime.md §4, §5)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import attrs

from vpipe_core.ops import metrics
from vpipe_core.outcome import Category, Dead, Output, Retry
from vpipe_core.record import Record
from vpipe_core.retry.envelope import dlq_output, tier_output


@attrs.define
class OutcomeRouter:
    """Builds the tier and DLQ records; Done, in-place retries and Defer are the loop's business."""

    domain: str
    worker: str
    worker_id: str
    delays: tuple[int, ...]
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)

    def retry(self, record: Record, outcome: Retry) -> list[Output]:
        """The tier record for this failure, or the DLQ record (plus `if_exhausted`) once the
        tiers are exhausted."""
        failure_number = record.attempt + 1
        if failure_number > len(self.delays):
            dead = Dead(outcome.error, outcome.category, "exhausted", outcome.if_exhausted)
            return self.dead(record, dead)
        delay = self.delays[failure_number - 1]
        metrics.message_outcomes.labels(self.worker, "retry", outcome.category.value).inc()
        metrics.retry_routed.labels(self.domain, f"{delay}s", outcome.category.value).inc()
        return [
            tier_output(
                record,
                domain=self.domain,
                delay_s=delay,
                category=outcome.category,
                error=outcome.error,
                worker_id=self.worker_id,
                now=self.clock(),
                not_before=outcome.not_before,
            )
        ]

    def dead(self, record: Record, outcome: Dead) -> list[Output]:
        """The DLQ record, followed by the outcome's own outputs."""
        metrics.message_outcomes.labels(self.worker, "dead", outcome.category.value).inc()
        metrics.dlq_messages.labels(self.domain, self.worker, outcome.reason).inc()
        dlq = dlq_output(
            record,
            domain=self.domain,
            category=outcome.category,
            error=outcome.error,
            reason=outcome.reason,
            worker_id=self.worker_id,
            now=self.clock(),
        )
        return [dlq, *outcome.outputs]

    def too_large(self, record: Record, topic: str) -> Output:
        error = f"output to {topic} exceeds the broker's maximum message size"
        return self.dead(record, Dead(error, Category.PERMANENT, reason="permanent"))[0]
