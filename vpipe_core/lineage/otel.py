"""Spans through the OpenTelemetry SDK (imported only when spans are on: lineage.spans).

One span per record and stage, named after the worker: its parent is the record's
`traceparent` (W3C propagator), and every record made while it is open (outputs, the tier
record of a retry, the dead letter and its outputs) carries the span's own `traceparent`, so the
hops of one event form one trace of parent and child spans. Pollers start the root span of each
event. A batch handler's records each get a span covering their routing, with the batch size.
Exported by a BatchSpanProcessor, to OTLP over HTTP (protobuf) or the console."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import attrs
from opentelemetry.context import Context
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import SERVICE_INSTANCE_ID, SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter
from opentelemetry.trace import Span, SpanKind, Status, StatusCode, set_span_in_context
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from vpipe_core.context import WorkerContext
from vpipe_core.lineage.spans import EXPORTER, TracingUnavailable, with_traceparent
from vpipe_core.lineage.traceparent import TRACEPARENT, find
from vpipe_core.loop.route import Routed
from vpipe_core.outcome import Dead, Defer, Done, Output, Retry
from vpipe_core.record import Record
from vpipe_core.retry.router import OutcomeRouter
from vpipe_core.spec import RetryMode

PROTOCOL_VARIABLES = ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL")
OTLP_PROTOCOL = "http/protobuf"
ERROR_CHARS = 500  # of a failure's message, as an attribute

# attribute names
WORKER = "vpipe.worker"
OUTCOME = "vpipe.outcome"
CATEGORY = "vpipe.error.category"
ERROR = "vpipe.error"
ATTEMPT = "vpipe.retry.attempt"
TIER = "vpipe.retry.tier"
DEAD_REASON = "vpipe.dead.reason"
ROUTED_TO = "vpipe.routed_to"
TOPIC = "messaging.destination.name"
PARTITION = "messaging.destination.partition.id"
OFFSET = "messaging.kafka.offset"


def exporters(env: Mapping[str, str]) -> list[SpanExporter]:
    """The exporters OTEL_TRACES_EXPORTER names (default `otlp`): `otlp` (HTTP, protobuf; the
    OTEL_EXPORTER_OTLP_* variables configure it) and `console` (standard error)."""
    names = [name.strip() for name in env.get(EXPORTER, "otlp").lower().split(",") if name.strip()]
    unknown = sorted(set(names) - {"otlp", "console"})
    if unknown:
        raise TracingUnavailable(
            f"{EXPORTER}={env[EXPORTER]}: unknown exporter {', '.join(unknown)}; "
            "vpipe exports spans with `otlp` (HTTP, protobuf) or `console`"
        )
    chosen: list[SpanExporter] = []
    if "otlp" in names:
        for variable in PROTOCOL_VARIABLES:
            protocol = env.get(variable, "").strip()
            if protocol and protocol != OTLP_PROTOCOL:
                raise TracingUnavailable(
                    f"{variable}={protocol}: vpipe exports OTLP over HTTP only; "
                    f"set it to {OTLP_PROTOCOL} (the collector's port 4318) or unset it"
                )
            if protocol:
                break
        chosen.append(OTLPSpanExporter())
    if "console" in names:
        chosen.append(ConsoleSpanExporter(out=sys.stderr))
    return chosen


def provider_for(ctx: WorkerContext, env: Mapping[str, str]) -> TracerProvider:
    """The SDK's provider: the sampler, batch limits and resource attributes come from the
    standard variables; the service is the worker unless OTEL_SERVICE_NAME says otherwise."""
    attributes: dict[str, Any] = {SERVICE_INSTANCE_ID: ctx.client_id}
    if not env.get("OTEL_SERVICE_NAME"):
        attributes[SERVICE_NAME] = ctx.spec.name
    provider = TracerProvider(resource=Resource.create(attributes))
    for exporter in exporters(env):
        provider.add_span_processor(BatchSpanProcessor(exporter))
    return provider


class OtelTracing:
    """The `lineage.spans.Tracing` of a worker. The loop routes one record at a time, on one
    thread: the span of the record being routed is `_span`."""

    def __init__(self, ctx: WorkerContext, provider: TracerProvider) -> None:
        self._worker = ctx.spec.name
        self._inplace = ctx.spec.retry_mode is RetryMode.INPLACE
        self._provider = provider
        self._tracer = provider.get_tracer("vpipe_core")
        self._propagator = TraceContextTextMapPropagator()
        self._span: Span | None = None
        self._traceparent = b""

    @classmethod
    def from_environment(cls, ctx: WorkerContext, env: Mapping[str, str]) -> OtelTracing:
        return cls(ctx, provider_for(ctx, env))

    # -- consuming workers -------------------------------------------------------------------

    def traced(self, routed: Iterable[Routed]) -> Iterator[Routed]:
        """Each span starts when its record is asked for (an inline handler runs then) and
        ends once the record is routed, when the next one is asked for."""
        started = time.time_ns()
        try:
            for record, outcome, key in routed:
                self._open(record, outcome, started)
                yield record, self._adopted(outcome), key
                self._close_span()
                started = time.time_ns()
        finally:
            self._close_span()

    def routing(self, router: OutcomeRouter) -> OutcomeRouter:
        return _SpanRouter(
            router.domain, router.worker, router.worker_id, router.delays, router.clock, spans=self
        )

    def _open(self, record: Record, outcome: Any, started: int) -> None:
        attributes: dict[str, Any] = {
            WORKER: self._worker,
            TOPIC: record.topic,
            PARTITION: str(record.partition),
            OFFSET: record.offset,
            ATTEMPT: record.attempt,
            **outcome_attributes(outcome),
        }
        if self._inplace and isinstance(outcome, Retry):
            attributes[TIER] = "inplace"
        self._span = span = self._tracer.start_span(
            self._worker,
            context=self._parent(find(record.headers)),
            kind=SpanKind.CONSUMER,
            attributes=attributes,
            start_time=started,
        )
        self._traceparent = self._traceparent_of(span)

    def _adopted(self, outcome: Any) -> Any:
        """A Done or Output (or a subclass) as a plain one, its outputs carrying the span."""
        if isinstance(outcome, Output):
            return with_traceparent(outcome, self._traceparent)
        if isinstance(outcome, Done):
            return Done([with_traceparent(output, self._traceparent) for output in outcome.outputs])
        return outcome

    def adopt(self, outputs: Sequence[Output], **attributes: Any) -> list[Output]:
        """The router's records for the current span's record, carrying that span."""
        span = self._span
        if span is None:
            return list(outputs)
        span.set_attributes(attributes)
        if outputs:
            span.set_attribute(ROUTED_TO, outputs[0].topic)
        return [with_traceparent(output, self._traceparent) for output in outputs]

    def dead(self) -> None:
        if self._span is not None:
            self._span.set_status(Status(StatusCode.ERROR))

    def _close_span(self) -> None:
        if self._span is not None:
            self._span.end()
            self._span = None

    # -- pollers -------------------------------------------------------------------------

    def started(self, output: Output) -> Output:
        attributes = {WORKER: self._worker, TOPIC: output.topic, OUTCOME: "published"}
        span = self._tracer.start_span(
            self._worker,
            context=self._parent(find(output.headers)),
            kind=SpanKind.PRODUCER,
            attributes=attributes,
        )
        try:
            return with_traceparent(output, self._traceparent_of(span))
        finally:
            span.end()

    def close(self) -> None:
        self._close_span()
        self._provider.shutdown()

    # -- W3C trace context ---------------------------------------------------------------

    def _parent(self, traceparent: bytes | None) -> Context:
        """The context a `traceparent` names; a new trace (root span) without one."""
        if traceparent is None:
            return Context()
        return self._propagator.extract({TRACEPARENT: traceparent.decode("ascii", "replace")})

    def _traceparent_of(self, span: Span) -> bytes:
        carrier: dict[str, str] = {}
        self._propagator.inject(carrier, context=set_span_in_context(span))
        return carrier[TRACEPARENT].encode()


def outcome_attributes(outcome: Any) -> dict[str, Any]:
    if isinstance(outcome, Output | Done):
        return {OUTCOME: "done"}
    if isinstance(outcome, Retry):
        return {OUTCOME: "retry", CATEGORY: outcome.category.value, ERROR: _short(outcome.error)}
    if isinstance(outcome, Dead):
        return {
            OUTCOME: "dead",
            CATEGORY: outcome.category.value,
            DEAD_REASON: outcome.reason,
            ERROR: _short(outcome.error),
        }
    if isinstance(outcome, Defer):
        return {OUTCOME: "deferred"}
    return {OUTCOME: "invalid", ERROR: f"handler returned {type(outcome).__name__}"}


def _short(error: str) -> str:
    return error if len(error) <= ERROR_CHARS else error[: ERROR_CHARS - 1] + "…"


@attrs.define
class _SpanRouter(OutcomeRouter):
    """The tier record and the dead letter carry the span of the record that failed; the
    span says where the record went (tier, DLQ) and why."""

    spans: OtelTracing | None = attrs.field(default=None, kw_only=True)

    def retry(self, record: Record, outcome: Retry) -> list[Output]:
        outputs = super().retry(record, outcome)
        failure = record.attempt + 1
        if self.spans is None or failure > len(self.delays):  # the DLQ: dead() said so
            return outputs
        return self.spans.adopt(outputs, **{TIER: f"{self.delays[failure - 1]}s"})

    def dead(self, record: Record, outcome: Dead) -> list[Output]:
        outputs = super().dead(record, outcome)
        if self.spans is None:
            return outputs
        self.spans.dead()
        return self.spans.adopt(outputs, **outcome_attributes(outcome))
