"""The per-instance HTTP server: `/metrics`, `/healthz` and `/readyz` (runtime.md §10).

It runs in daemon threads next to the processing loop and only reads `HealthState`, so a stuck
loop shows up as a failing `/healthz` instead of a hung probe.
"""

from __future__ import annotations

import errno
import json
import re
import shutil
import subprocess
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest

from vpipe_core.ops.health_state import HealthState
from vpipe_core.ops.metrics import REGISTRY
from vpipe_core.ops.ports import PortConflict

# `generate_latest` writes the classic text format; newer prometheus-client versions point
# CONTENT_TYPE_LATEST at a different format version, so name the matching one explicitly.
METRICS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
JSON_CONTENT_TYPE = "application/json"
REQUEST_TIMEOUT_SECONDS = 10.0
STOP_TIMEOUT_SECONDS = 5.0
OWNER_LOOKUP_TIMEOUT_SECONDS = 2.0


class HealthServer:
    """Serves one worker instance's metrics and probes on a fixed port; never picks another."""

    def __init__(
        self,
        state: HealthState,
        port: int,
        bind: str = "0.0.0.0",
        registry: CollectorRegistry = REGISTRY,
    ) -> None:
        self.state = state
        self.port = port
        self.bind = bind
        self.registry = registry
        self._server: _HealthHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Bind and serve in a daemon thread; `PortConflict` if the port is taken."""
        if self._server is not None:
            raise RuntimeError(f"health server on port {self.port} is already running")
        self._server = self._bind()
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            name=f"vpipe-health-{self.port}",
            daemon=True,
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop serving and release the port; safe to call more than once."""
        server, thread = self._server, self._thread
        self._server, self._thread = None, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        if thread is not None:
            thread.join(timeout=STOP_TIMEOUT_SECONDS)

    def _bind(self) -> _HealthHTTPServer:
        try:
            return _HealthHTTPServer(
                (self.bind, self.port), _HealthRequestHandler, self.state, self.registry
            )
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE:
                raise
            owner = find_port_owner(self.port)
            held_by = f" by {owner}" if owner else ""
            raise PortConflict(
                f"health/metrics port {self.port} ({self.bind}) is already in use{held_by}; "
                f"stop that process or fix the port_base (no fallback to another port)"
            ) from exc


def find_port_owner(port: int) -> str | None:
    """Best effort: the process listening on `port` according to `ss`, or None."""
    ss = shutil.which("ss")
    if ss is None:
        return None
    try:
        result = subprocess.run(
            [ss, "-H", "-ltnp", f"sport = :{port}"],
            capture_output=True,
            text=True,
            timeout=OWNER_LOOKUP_TIMEOUT_SECONDS,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return _parse_ss_owner(result.stdout)


def _parse_ss_owner(ss_output: str) -> str | None:
    # ss prints e.g. users:(("python3",pid=4242,fd=3)); without privileges it prints no users.
    match = re.search(r'\(\("([^"]+)",pid=(\d+)', ss_output)
    if match is None:
        return None
    return f"{match.group(1)} (pid {match.group(2)})"


class _HealthHTTPServer(ThreadingHTTPServer):
    daemon_threads = True  # a slow client must never block stop()
    allow_reuse_port = False  # two instances must not silently share one port

    def __init__(
        self,
        address: tuple[str, int],
        handler: type[BaseHTTPRequestHandler],
        state: HealthState,
        registry: CollectorRegistry,
    ) -> None:
        self.health_state = state
        self.metrics_registry = registry
        super().__init__(address, handler)


class _HealthRequestHandler(BaseHTTPRequestHandler):
    timeout = REQUEST_TIMEOUT_SECONDS

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path == "/metrics":
            self._send(
                HTTPStatus.OK, generate_latest(self._owner.metrics_registry), METRICS_CONTENT_TYPE
            )
        elif path == "/healthz":
            self._send_json(*liveness(self._owner.health_state))
        elif path == "/readyz":
            self._send_json(*readiness(self._owner.health_state))
        else:
            self._send_json(HTTPStatus.NOT_FOUND, {"status": "not_found", "path": path})

    def log_message(self, format: str, *args: Any) -> None:
        """Probes arrive every few seconds; logging each one would drown the worker's log."""

    @property
    def _owner(self) -> _HealthHTTPServer:
        assert isinstance(self.server, _HealthHTTPServer)
        return self.server

    def _send_json(self, status: HTTPStatus, body: dict[str, Any]) -> None:
        self._send(status, json.dumps(body).encode(), JSON_CONTENT_TYPE)

    def _send(self, status: HTTPStatus, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def liveness(state: HealthState) -> tuple[HTTPStatus, dict[str, Any]]:
    """`/healthz`: alive while the processing loop keeps completing iterations."""
    stalled_for_s = round(state.stalled_for(), 3)
    if state.healthy():
        return HTTPStatus.OK, {"status": "ok", "stalled_for_s": stalled_for_s}
    return HTTPStatus.SERVICE_UNAVAILABLE, {"status": "stalled", "stalled_for_s": stalled_for_s}


def readiness(state: HealthState) -> tuple[HTTPStatus, dict[str, Any]]:
    """`/readyz`: ready when nothing is holding the worker back."""
    reasons = state.not_ready_reasons()
    if not reasons:
        detail = state.detail
        return HTTPStatus.OK, {"status": "ready"} if detail is None else {
            "status": "ready",
            "detail": detail,
        }
    return HTTPStatus.SERVICE_UNAVAILABLE, {"status": "not_ready", "reasons": reasons}
