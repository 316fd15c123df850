"""Helpers of the plugin's tests: XACT contexts as the enricher builds them, and a local webhook
receiver (`http.server`) that records requests and replies as scripted."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import attrs

from vpipe_core.plugins import EnrichmentContext

PLUGIN = "xact_status_trigger"
TRACE_ID = "5e9a17c4-0b6d-4e28-a3f5-c71d9e2b8604"
EVENT_ID = "0c1d3f6e-7b8a-5c2d-9e4f-a1b2c3d4e5f6"


def enrichment_task(status: str, **changes: Any) -> dict[str, Any]:
    """An enrichment task (xact.md §5.1)."""
    task: dict[str, Any] = {
        "event_id": EVENT_ID,
        "trace_id": TRACE_ID,
        "event_type": "xact",
        "status_subtype": status,
        "assignment_id": "H2N8V6P",
        "estimate_version": "3",
        "attachments": ["https://files.example/a.esx", "https://files.example/b.pdf"],
        "data": {"assignmentId": "H2N8V6P", "estimateVersion": "3"},
        "original_timestamp": "2026-02-03T09:02:11.350000Z",
        "created_at": "2026-02-03T09:02:14.000000Z",
        "metadata": {},
    }
    task.update(changes)
    return task


def xact_context(status: str = "estimateCreated", **overrides: Any) -> EnrichmentContext:
    """The context the XACT enricher builds for stage ``enrichment_complete``."""
    task = enrichment_task(status)
    fields: dict[str, Any] = {
        "domain": "xact",
        "stage": "enrichment_complete",
        "event_id": EVENT_ID,
        "event_type": status,
        "task": task,
        "data": task["data"],
        "extras": {
            "trace_id": TRACE_ID,
            "status_subtype": status,
            "assignment_id": "H2N8V6P",
            "estimate_version": "3",
            "attachment_count": 1,
        },
    }
    fields.update(overrides)
    return EnrichmentContext(**fields)


@attrs.frozen
class Answer:
    """One scripted reply of the receiver: wait `delay_s`, then answer `status`."""

    status: int = 200
    delay_s: float = 0.0


@attrs.frozen
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float


class WebhookReceiver:
    """Records every POST; replies with the scripted answers in order, then with 200."""

    def __init__(self) -> None:
        self.script: list[Answer] = []
        self.requests: list[Received] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def url(self, path: str = "/hooks/status") -> str:
        return f"http://127.0.0.1:{self._server.server_port}{path}"

    def answer(self, *answers: Answer) -> None:
        self.script.extend(answers)

    def __enter__(self) -> WebhookReceiver:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _next_answer(self, received: Received) -> Answer:
        with self._lock:
            self.requests.append(received)
            return self.script.pop(0) if self.script else Answer()

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                headers = {name.lower(): value for name, value in self.headers.items()}
                answer = receiver._next_answer(Received(self.path, headers, body, time.monotonic()))
                time.sleep(answer.delay_s)
                try:
                    self.send_response(answer.status)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                except OSError:
                    pass  # the client gave up (timeout test)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler
