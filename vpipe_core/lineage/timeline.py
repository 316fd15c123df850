"""From hops to a story: which stage (worker) saw the event last, and whether it is finished.

Stages come from the worker specs: a topic record was written by the workers that declare it
as an output (the poller for the raw topic) and is owed an effect by those that consume it. An
effect is a record of the same trace in one of the consumer's outputs, a retry tier record or
dead letter naming the topic as its origin, or, for a worker with no output topic (a table
writer) whose group has no committed offset there, a row in a table. A record owed an effect
that has none is where the event is stuck."""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from typing import Any

import attrs

from vpipe_core.lineage.scan import Hop
from vpipe_core.retry import envelope as env
from vpipe_core.spec import WorkerSpec


@attrs.frozen
class Story:
    hops: list[Hop]
    # (stage owing an effect, the topic record it has not handled), oldest record first
    stuck: list[tuple[str, str]]
    found: bool

    @property
    def last_stage(self) -> str | None:
        """The stage that owes an effect for the newest record seen."""
        return self.stuck[-1][0] if self.stuck else None

    def as_json(self) -> dict[str, Any]:
        return {
            "found": self.found,
            "last_stage": self.last_stage,
            "stuck": [{"stage": stage, "at": where} for stage, where in self.stuck],
            "hops": [hop.as_json() for hop in self.hops],
        }


def stage_of(topic: str, specs: Sequence[WorkerSpec]) -> str:
    writers = [spec.name for spec in specs if topic in spec.output_topics]
    if topic.endswith(".dlq"):
        return "dlq"
    if ".retry." in topic:
        return "retry tier"
    return ",".join(writers) or "?"


# (consumer group, topic, partition) -> the group's committed offset there (-1: none)
Committed = Callable[[str, str, int], int]


def story(hops: Sequence[Hop], specs: Sequence[WorkerSpec], committed: Committed) -> Story:
    depth = _depths(specs)
    ordered = sorted(
        hops, key=lambda hop: (_time(hop), hop.kind, depth.get(_topic(hop), len(depth)))
    )
    topic_hops = [hop for hop in ordered if hop.kind == "topic"]
    rows = [hop for hop in ordered if hop.kind == "row" and "error" not in hop.detail]
    stuck = [
        (hop.trace_id, spec.name, hop.where)
        for hop in topic_hops
        for spec in _consumers(_topic(hop), specs)
        if not _handled(hop, spec, topic_hops, bool(rows), committed)
    ]
    # An event polled twice has two traces; the ingester drops the duplicate's. The event went
    # on when one of its traces did.
    if {hop.trace_id for hop in topic_hops} - {trace_id for trace_id, _, _ in stuck}:
        stuck = []
    found = bool(topic_hops or rows)
    return Story(list(ordered), [(stage, where) for _, stage, where in stuck], found)


def _time(hop: Hop) -> int:
    """A file's hop (its place now, no time) comes after everything else."""
    if hop.time_ms is not None:
        return hop.time_ms
    return sys.maxsize if hop.kind == "file" else 0


def _depths(specs: Sequence[WorkerSpec]) -> dict[str, int]:
    """Each topic's distance from the pollers: orders hops written in the same millisecond."""
    depth = {t: 0 for spec in specs if not spec.input_topics for t in spec.output_topics}
    for level in range(1, len(specs) + 1):
        for spec in specs:
            if any(depth.get(t) == level - 1 for t in spec.input_topics):
                for topic in spec.output_topics:
                    depth.setdefault(topic, level)
    return depth


def _topic(hop: Hop) -> str:
    return hop.where.rpartition("[")[0]


def _consumers(topic: str, specs: Sequence[WorkerSpec]) -> list[WorkerSpec]:
    return [s for s in specs if topic in s.input_topics and not s.consumes_retry_tiers]


def _handled(
    hop: Hop, spec: WorkerSpec, topic_hops: Sequence[Hop], any_row: bool, committed: Committed
) -> bool:
    """The worker committed past the record (it may have had nothing to emit), or an effect
    of it is found."""
    topic, _, position = hop.where.rpartition("[")
    partition, _, offset = position.rstrip("]").partition("]@")
    done = committed(spec.name, topic, int(partition))
    if done > int(offset):
        return True
    if not spec.output_topics:
        # A table writer commits after its table commit: a group that committed, but not past
        # the record, has not written it (whatever rows other writers made). Rows stand in only
        # for a group with no offset there (another group name, offsets expired).
        return done < 0 and any_row
    for later in topic_hops:
        if later.trace_id != hop.trace_id or later is hop:
            continue
        if _topic(later) in spec.output_topics:
            return True
        if later.detail.get(env.ORIGIN_TOPIC) == topic:
            return True
    return False
