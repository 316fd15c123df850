"""A local OpenTelemetry collector stand-in: OTLP over HTTP (protobuf) on loopback, spans
decoded with opentelemetry-proto and kept in memory. Workers export to it through the SDK's
real OTLP exporter (`OtlpReceiver.env`). Needs the `otel` extra of vpipe-core."""

from __future__ import annotations

import gzip
import threading
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any, Self

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

from vpipe_testing.http_server import LoopbackHTTPServer

TRACES_PATH = "/v1/traces"
FAST_EXPORT_MS = "200"  # OTEL_BSP_SCHEDULE_DELAY for tests: spans leave within 0.2 s


@dataclass(frozen=True)
class ReceivedSpan:
    service: str
    name: str
    trace_id: str
    span_id: str
    parent_span_id: str  # "" for a root span
    kind: int
    attributes: dict[str, Any] = field(default_factory=dict)
    error: bool = False


class OtlpReceiver:
    """`with OtlpReceiver() as otlp:` start workers with `**otlp.env`, then read `otlp.spans`.
    `discard=True` counts spans without keeping them (benchmarks)."""

    def __init__(self, discard: bool = False) -> None:
        self._discard = discard
        self._lock = threading.Lock()
        self._spans: list[ReceivedSpan] = []
        self.count = 0
        self._server = LoopbackHTTPServer(("127.0.0.1", 0), _handler(self._received))

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def env(self) -> dict[str, str]:
        return {
            "OTEL_TRACES_EXPORTER": "otlp",
            "OTEL_EXPORTER_OTLP_ENDPOINT": self.url,
            "OTEL_BSP_SCHEDULE_DELAY": FAST_EXPORT_MS,
        }

    @property
    def spans(self) -> list[ReceivedSpan]:
        with self._lock:
            return list(self._spans)

    def wait_for(self, done: Callable[[list[ReceivedSpan]], bool], timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if done(self.spans):
                return True
            time.sleep(0.2)
        return done(self.spans)

    def __enter__(self) -> Self:
        self._server.serve_in_background("otlp-receiver")
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.stop_serving()

    def _received(self, request: ExportTraceServiceRequest) -> None:
        spans = [] if self._discard else list(decoded(request))
        with self._lock:
            self.count += sum(
                len(scope.spans) for rs in request.resource_spans for scope in rs.scope_spans
            )
            self._spans.extend(spans)


def decoded(request: ExportTraceServiceRequest) -> list[ReceivedSpan]:
    found = []
    for resource_spans in request.resource_spans:
        resource = {a.key: value_of(a.value) for a in resource_spans.resource.attributes}
        for scope in resource_spans.scope_spans:
            for span in scope.spans:
                found.append(
                    ReceivedSpan(
                        service=str(resource.get("service.name", "")),
                        name=span.name,
                        trace_id=span.trace_id.hex(),
                        span_id=span.span_id.hex(),
                        parent_span_id=span.parent_span_id.hex(),
                        kind=span.kind,
                        attributes={a.key: value_of(a.value) for a in span.attributes},
                        error=span.status.code == span.status.STATUS_CODE_ERROR,
                    )
                )
    return found


def value_of(value: AnyValue) -> Any:
    kind = value.WhichOneof("value")
    return getattr(value, kind) if kind else None


def _handler(received: Callable[[ExportTraceServiceRequest], None]) -> type:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            encoding = self.headers.get("Content-Encoding", "")
            if encoding == "gzip":
                body = gzip.decompress(body)
            elif encoding == "deflate":
                body = zlib.decompress(body)
            if self.path != TRACES_PATH:
                self.send_error(404, f"only {TRACES_PATH} here")
                return
            request = ExportTraceServiceRequest()
            request.ParseFromString(body)
            received(request)
            answer = ExportTraceServiceResponse().SerializeToString()
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, format: str, *args: Any) -> None:
            return None

    return Handler


def by_trace(spans: list[ReceivedSpan]) -> dict[str, list[ReceivedSpan]]:
    traces: dict[str, list[ReceivedSpan]] = {}
    for span in spans:
        traces.setdefault(span.trace_id, []).append(span)
    return traces


def stage_edges(spans: list[ReceivedSpan]) -> set[tuple[str, str | None]]:
    """(span name, its parent's name) for each span of one trace; None: no exported parent."""
    names = {span.span_id: span.name for span in spans}
    return {(span.name, names.get(span.parent_span_id)) for span in spans}


def tree_problems(spans: list[ReceivedSpan], root: str) -> list[str]:
    """What keeps one trace's spans from being one tree under a single `root` span."""
    ids = {span.span_id for span in spans}
    roots = [span.name for span in spans if not span.parent_span_id]
    problems = [] if roots == [root] else [f"roots {roots}, expected [{root}]"]
    problems += [
        f"{span.name}: parent {span.parent_span_id} never exported"
        for span in spans
        if span.parent_span_id and span.parent_span_id not in ids
    ]
    return problems
