"""OpenTelemetry spans, optional (DEPLOYMENT.md, "Follow one event"): the switch, read once at
start. Spans are on when the `otel` extra is installed and the environment asks for traces:
OTEL_TRACES_EXPORTER names an exporter (not `none`), or an OTLP endpoint is set
(OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, OTEL_EXPORTER_OTLP_ENDPOINT); OTEL_SDK_DISABLED=true turns
them off. Otherwise nothing from opentelemetry is imported and the loops run as they are."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Protocol

from vpipe_core.lineage.traceparent import TRACEPARENT
from vpipe_core.outcome import Output

if TYPE_CHECKING:
    from vpipe_core.context import WorkerContext
    from vpipe_core.loop.route import Routed
    from vpipe_core.retry.router import OutcomeRouter

ENDPOINTS = ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")
EXPORTER = "OTEL_TRACES_EXPORTER"
DISABLED = "OTEL_SDK_DISABLED"


class TracingUnavailable(Exception):
    """Spans are asked for but cannot be exported: the message names the variable and the fix."""


class Tracing(Protocol):
    """What the loops call when spans are on (one object per worker process)."""

    def traced(self, routed: Iterable[Routed]) -> Iterator[Routed]:
        """The same (record, outcome, key) triples, each routed inside a span of its own; the
        outcome's outputs carry that span's `traceparent`."""
        ...

    def routing(self, router: OutcomeRouter) -> OutcomeRouter:
        """`router`, its tier and DLQ records carrying the current span's `traceparent`."""
        ...

    def started(self, output: Output) -> Output:
        """A polled event's record, with the `traceparent` of a new root span."""
        ...

    def close(self) -> None:
        """Export what is left (at the worker's stop)."""
        ...


def asked_by(env: Mapping[str, str]) -> str | None:
    """The variable that turns spans on, or None when they stay off."""
    if env.get(DISABLED, "").strip().lower() == "true":
        return None
    exporter = env.get(EXPORTER, "").strip().lower()
    if exporter:
        return EXPORTER if exporter != "none" else None
    return next((name for name in ENDPOINTS if env.get(name, "").strip()), None)


def tracing_for(ctx: WorkerContext, env: Mapping[str, str] | None = None) -> Tracing | None:
    """The worker's tracing, or None (spans off). `env`: the worker's environment (the process
    environment over the `.env` file's values by default). The SDK reads its variables from the
    process environment, so the `.env` file's OTEL_* values are copied there."""
    if env is None:
        env = {**ctx.env, **os.environ}
    variable = asked_by(env)
    if variable is None:
        return None
    for name, value in env.items():
        if name.startswith("OTEL_"):
            os.environ.setdefault(name, value)
    try:
        from vpipe_core.lineage.otel import OtelTracing
    except ImportError as exc:
        raise TracingUnavailable(
            f"{variable} is set but the OpenTelemetry SDK is not installed ({exc.name} missing): "
            f"install the extra (pip install 'vpipe-core[otel]') or unset {variable}"
        ) from exc
    return OtelTracing.from_environment(ctx, env)


def with_traceparent(output: Output, traceparent: bytes) -> Output:
    """A copy of `output` whose `traceparent` is this one (whatever it had)."""
    headers = [(key, value) for key, value in output.headers or () if key != TRACEPARENT]
    headers.append((TRACEPARENT, traceparent))
    return Output(output.topic, output.value, output.key, headers, output.partition)
