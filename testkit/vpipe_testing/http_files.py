"""A local HTTP file server for download tests: misbehaves on request, logs every request.

    with FileServer() as server:
        server.add("/report.pdf", Route(body=b"%PDF-1.7 ...", content_type="application/pdf"))
        url = server.url("/report.pdf")          # http://127.0.0.1:<port>/report.pdf
        ...
        assert server.requests == []             # nothing reached the server

A `Route` serves bytes with a content type, honours `Range` (206 + `Content-Range`), and can
answer another status (with headers such as `Retry-After`), redirect, advertise a longer
`Content-Length` than it sends, pause mid-body, or drop the connection mid-body on its first
responses. Routes match the path without the query string.
"""

from __future__ import annotations

import itertools
import re
import threading
import time
from http.server import BaseHTTPRequestHandler
from typing import Any

import attrs

from vpipe_testing.http_server import LoopbackHTTPServer

_RANGE = re.compile(r"bytes=(\d+)-(\d*)")
PACED_SLICE = 256 * 1024  # bytes per write of a paced body


@attrs.define
class Route:
    body: bytes = b""
    content_type: str | None = "application/octet-stream"
    status: int = 200
    headers: dict[str, str] = attrs.field(factory=dict)
    redirect_to: str | None = None  # answer 302 with this Location (status 302 unless set)
    ranges: bool = True  # honour Range requests; False answers 200 with the whole body
    send_length: bool = True  # False: no Content-Length, the body ends when the connection does
    advertised_length: int | None = None  # Content-Length to claim instead of the real one
    # (offset in each response body, seconds): pause there with the bytes before it flushed
    stalls: list[tuple[int, float]] = attrs.field(factory=list)
    stall_times: int = 1_000_000  # the first N body responses stall
    drop_after: int | None = None  # close the connection after N body bytes of a response...
    drop_times: int = 1  # ... on the first N body responses
    body_responses: int = 0  # how many body responses were sent so far
    rate_bytes_s: int | None = None  # pace each body response to this rate (a network link)
    fail_first: int = 0  # the first N requests answer `fail_status` (e.g. 500 then 200)
    fail_status: int = 500
    failed: int = 0  # how many requests were failed so far


@attrs.frozen
class LoggedRequest:
    method: str
    path: str
    headers: dict[str, str]


class FileServer:
    """A threaded HTTP/1.1 server on 127.0.0.1 with an ephemeral port."""

    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.requests: list[LoggedRequest] = []
        self._lock = threading.Lock()
        self._server = LoopbackHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.file_server = self  # type: ignore[attr-defined]

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def url(self, path: str, host: str = "127.0.0.1", scheme: str = "http") -> str:
        return f"{scheme}://{host}:{self.port}{path}"

    def add(self, path: str, route: Route) -> Route:
        self.routes[path] = route
        return route

    def paths(self) -> list[str]:
        """The paths requested so far, in order."""
        with self._lock:
            return [request.path for request in self.requests]

    def start(self) -> FileServer:
        self._server.serve_in_background("file-server")
        return self

    def stop(self) -> None:
        self._server.stop_serving()

    def __enter__(self) -> FileServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _log(self, request: LoggedRequest) -> None:
        with self._lock:
            self.requests.append(request)

    def _should_fail(self, route: Route) -> bool:
        with self._lock:
            if route.failed < route.fail_first:
                route.failed += 1
                return True
            return False

    def _next_body_response(self, route: Route) -> int:
        with self._lock:
            route.body_responses += 1
            return route.body_responses


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # no delayed-ACK stall between header and body writes
    server: Any

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        files: FileServer = self.server.file_server
        path = self.path.split("?", 1)[0]
        files._log(LoggedRequest("GET", self.path, dict(self.headers.items())))
        route = files.routes.get(path)
        if route is None:
            self._reply(404, {}, b"not found")
        elif route.redirect_to is not None:
            status = route.status if 300 <= route.status < 400 else 302
            self._reply(status, {"Location": route.redirect_to, **route.headers}, b"")
        elif route.status != 200:
            self._reply(route.status, route.headers, b"error")
        elif files._should_fail(route):
            self._reply(route.fail_status, {}, b"injected failure")
        else:
            self._send_body(route, files._next_body_response(route))

    def _reply(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _send_body(self, route: Route, number: int) -> None:
        status, start, end = self._range(route)
        body = route.body[start:end]
        self.send_response(status)
        if route.content_type is not None:
            self.send_header("Content-Type", route.content_type)
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{end - 1}/{len(route.body)}")
        if route.send_length:
            length = route.advertised_length if route.advertised_length is not None else len(body)
            self.send_header("Content-Length", str(length))
        else:
            self.close_connection = True
        for name, value in route.headers.items():
            self.send_header(name, value)
        self.end_headers()
        self._write_body(route, body, number)

    def _range(self, route: Route) -> tuple[int, int, int]:
        match = _RANGE.fullmatch(self.headers.get("Range", "").strip())
        if not route.ranges or match is None:
            return 200, 0, len(route.body)
        start = int(match.group(1))
        end = int(match.group(2)) + 1 if match.group(2) else len(route.body)
        return 206, start, min(end, len(route.body))

    def _write(self, route: Route, data: memoryview) -> None:
        """Write `data`, at `route.rate_bytes_s` if set: in slices, each sent no earlier than the
        rate allows since the first."""
        if route.rate_bytes_s is None:
            self.wfile.write(data)
            return
        started = time.monotonic()
        for sent in range(0, len(data), PACED_SLICE):
            delay = started + sent / route.rate_bytes_s - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            self.wfile.write(data[sent : sent + PACED_SLICE])

    def _write_body(self, route: Route, body: bytes, number: int) -> None:
        stalls = dict(route.stalls) if number <= route.stall_times else {}
        cut = route.drop_after if number <= route.drop_times else None
        marks = {0, len(body), *stalls, *([cut] if cut is not None else [])}
        cut_points = sorted(mark for mark in marks if 0 <= mark <= len(body))
        try:
            for begin, finish in itertools.pairwise(cut_points):
                if begin in stalls:
                    self.wfile.flush()
                    time.sleep(stalls[begin])
                if begin == cut:
                    break
                self._write(route, memoryview(body)[begin:finish])
            self.wfile.flush()
        except OSError:  # the client gave up (e.g. its stall timeout)
            self.close_connection = True
            return
        declared = route.advertised_length
        if cut is not None or (declared is not None and declared != len(body)):
            self.close_connection = True
