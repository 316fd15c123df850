"""A fake ClaimX REST API on 127.0.0.1 (claimx.md §11.3), for tests, plugin authors and the demo.

    with FakeClaimxApi() as fake:
        api = ClaimxApi(fake.url, fake.token)
        api.project("5517342")                        # export_project.json
        fake.inject(r"/media$", Fault.http(429, retry_after=3))
        fake.count(r"/export/project/5517342/media")  # requests so far

Serves the bundled fixtures (E1/E2/E4 for project 5517342, E3 for assignment 6021187), any
other id 404, a wrong token 401. E2 links are re-hosted on this server and signed at the
current time (`freeze()` pins it), so downloads work locally: a file-service link answers 302
to an S3-like presigned path that serves deterministic bytes with the media type's
Content-Type; a link past its expiry answers 403 (`expire_links(n)` serves stale links).
`generate=` serves generated projects for any accepted id (see `fake_data`). Faults are
scripted per path pattern: statuses (with Retry-After), slow or held answers, truncated
bodies, dropped connections, any body. The server also accepts absolute-form request targets,
so it can stand in as a plain-HTTP forward proxy (`requests[i].proxied_to`).
"""

from __future__ import annotations

import base64
import contextlib
import copy
import hashlib
import json
import logging
import re
import shutil
import ssl
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import attrs

from vpipe_testing.claimx.fake_data import (
    DEFAULT_MEDIA_PER_PROJECT,
    Catalogue,
    FakeProject,
    IdFilter,
    content_type,
    file_bytes,
    fixture_project,
)
from vpipe_testing.claimx.fake_links import (
    FILE_SERVICE_PREFIX,
    S3_EXPIRES_S,
    S3_PREFIX,
    FileEntry,
    LinkSigner,
    rewrite_link,
)

log = logging.getLogger("vpipe.claimx.fake_api")

DEFAULT_TOKEN = base64.b64encode(b"vpipe-fake:claimx-secret").decode()
DEFAULT_BASE_PATH = "/service/cxedirest"
DEFAULT_FILE_SIZE = 4096
HOLD_LIMIT_S = 60.0  # a held request is answered after this even if never released
_RANGE = re.compile(r"bytes=(\d+)-(\d*)")
_ID = r"([^/]+)"
_FULL_ONLY = frozenset({"customTask", "externalLinkData", "response"})  # E3 parts of full=true
_API_ROUTES: tuple[tuple[str, re.Pattern[str], str], ...] = (
    ("GET", re.compile(r"export/project/projectId"), "_p1_project_id"),
    ("GET", re.compile(rf"export/project/{_ID}"), "_e1_project"),
    ("GET", re.compile(rf"export/project/{_ID}/media"), "_e2_media"),
    ("GET", re.compile(rf"customTasks/assignment/{_ID}"), "_e3_assignment"),
    ("POST", re.compile(r"data"), "_e4_video"),
    ("POST", re.compile(r"import/project/actions"), "_p2_action"),
)


@attrs.frozen
class Fault:
    """What to do instead of (or on top of) the normal answer to one request."""

    status: int | None = None  # answer this status (with `body`, `headers`) instead
    headers: Mapping[str, str] = attrs.field(factory=dict)
    body: bytes | None = None
    delay_s: float = 0.0  # wait this long before answering (a slow server)
    hold: threading.Event | None = None  # wait until this is set (at most HOLD_LIMIT_S)
    truncate_to: int | None = None  # send only this many body bytes, then close
    drop: bool = False  # close the connection without any answer

    @classmethod
    def http(
        cls, status: int, *, retry_after: float | str | None = None, body: bytes | None = None
    ) -> Fault:
        headers = {} if retry_after is None else {"Retry-After": str(retry_after)}
        return cls(status=status, headers=headers, body=body)

    @classmethod
    def answer(
        cls, body: bytes, status: int = 200, content_type: str = "application/json"
    ) -> Fault:
        """Any body, e.g. another accepted shape, an empty 200 or a non-JSON page."""
        return cls(status=status, headers={"Content-Type": content_type}, body=body)

    @classmethod
    def slow(cls, seconds: float) -> Fault:
        return cls(delay_s=seconds)

    @classmethod
    def held(cls, gate: threading.Event) -> Fault:
        return cls(hold=gate)

    @classmethod
    def truncated(cls, keep_bytes: int = 10) -> Fault:
        return cls(truncate_to=keep_bytes)

    @classmethod
    def dropped(cls) -> Fault:
        return cls(drop=True)


@attrs.frozen
class ServedRequest:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # names lower-cased
    body: bytes
    proxied_to: str | None = None  # host of an absolute-form target (the server was a proxy)

    def json(self) -> Any:
        return json.loads(self.body)


@attrs.frozen
class Answer:
    status: int
    body: bytes = b""
    headers: Mapping[str, str] = attrs.field(factory=dict)


@attrs.define
class _ScriptedFault:
    pattern: re.Pattern[str]
    method: str | None
    fault: Fault
    remaining: int | None  # None: every matching request


def _json_answer(status: int, value: Any, headers: Mapping[str, str] | None = None) -> Answer:
    body = json.dumps(value).encode()
    return Answer(status, body, {"Content-Type": "application/json", **(headers or {})})


def _message(status: int, text: str) -> Answer:
    return _json_answer(status, {"status": status, "message": text})


class FakeClaimxApi:
    """Threaded HTTP/1.1 server on 127.0.0.1, on an ephemeral port unless `port` is given
    (HTTPS with `tls=True`)."""

    def __init__(
        self,
        *,
        token: str = DEFAULT_TOKEN,
        projects: Iterable[FakeProject] | None = None,
        generate: IdFilter = (),
        media_per_project: int = DEFAULT_MEDIA_PER_PROJECT,
        files: Mapping[str, bytes] | None = None,
        file_size: int | Callable[[str], int] = DEFAULT_FILE_SIZE,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        base_path: str = DEFAULT_BASE_PATH,
        host: str = "127.0.0.1",
        port: int = 0,
        tls: bool = False,
        latency_s: float = 0.0,
    ) -> None:
        """`projects` default to the fixture project; `generate` accepts ids (a collection
        or a predicate) served as generated projects; `files` overrides bytes by media id;
        every API call (not file downloads) is answered after `latency_s`, like a real server."""
        self.token = token
        self.latency_s = latency_s
        self.catalogue = Catalogue(
            [fixture_project()] if projects is None else projects, generate, media_per_project
        )
        self.files: dict[str, bytes] = dict(files or {})
        self.file_size = file_size
        self.base_path = "/" + base_path.strip("/")
        self.host = host
        self.ignore_media_filter = False  # True: E2 answers every item, like a server that
        # ignores `mediaIds` (the client must filter)
        self.requests: list[ServedRequest] = []
        self.actions: list[dict[str, Any]] = []  # P2 bodies received
        self.in_flight = 0
        self.max_in_flight = 0
        self.ca_file: str | None = None
        self._clock = clock
        self._frozen: datetime | None = None
        self._signer = LinkSigner()
        self._lock = threading.Lock()
        self._faults: list[_ScriptedFault] = []
        self._expired_left = 0
        self._expired_age = timedelta(0)
        self._entries: dict[str, FileEntry] = {}
        self._private = Path(tempfile.mkdtemp(prefix="vpipe-fake-claimx-"))
        self._server = _Server(("127.0.0.1", port), _Handler)  # `host` names it in URLs
        self._server.fake = self
        if tls:
            self._server.ssl_context = self._tls_context()
        self._scheme = "https" if tls else "http"
        self._thread = threading.Thread(target=self._serve, name="fake-claimx-api", daemon=True)

    # -- lifecycle --------------------------------------------------------------------------

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def origin(self) -> str:
        return f"{self._scheme}://{self.host}:{self.port}"

    @property
    def url(self) -> str:
        """The API base URL (CLAIMX_API_URL)."""
        return f"{self.origin}{self.base_path}"

    def start(self) -> FakeClaimxApi:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        shutil.rmtree(self._private, ignore_errors=True)

    def __enter__(self) -> FakeClaimxApi:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _serve(self) -> None:
        self._server.serve_forever(poll_interval=0.05)

    def _tls_context(self) -> ssl.SSLContext:
        from vpipe_testing.tls import self_signed_pem

        cert, key = self_signed_pem("vpipe-fake-claimx")
        cert_file, key_file = self._private / "cert.pem", self._private / "key.pem"
        cert_file.write_bytes(cert)
        key_file.write_bytes(key)
        key_file.chmod(0o600)
        self.ca_file = str(cert_file)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert_file, key_file)
        return context

    # -- scripting --------------------------------------------------------------------------

    def now(self) -> datetime:
        return self._frozen or self._clock()

    def freeze(self, at: datetime | None) -> None:
        """Serve and check links at this instant (None: follow the clock again)."""
        self._frozen = at

    def add_project(self, project: FakeProject) -> None:
        self.catalogue.add(project)

    def inject(
        self, pattern: str, fault: Fault, *, times: int | None = 1, method: str | None = None
    ) -> None:
        """The next `times` requests whose path matches `pattern` (re.search; None: all of
        them until `clear_faults`) get `fault`. Earlier injections match first."""
        scripted = _ScriptedFault(re.compile(pattern), method, fault, times)
        with self._lock:
            self._faults.append(scripted)

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()
            self._expired_left = 0

    def expire_links(self, times: int = 1, age: timedelta = timedelta(days=2)) -> None:
        """The next `times` E2 answers carry links signed `age` ago (expired: 403 on download)."""
        with self._lock:
            self._expired_left = times
            self._expired_age = age

    def count(self, pattern: str = "", method: str | None = None) -> int:
        """Requests so far whose path matches `pattern` (re.search)."""
        compiled = re.compile(pattern)
        with self._lock:
            return sum(
                1
                for request in self.requests
                if compiled.search(request.path) and method in (None, request.method)
            )

    def reset_counts(self) -> None:
        with self._lock:
            self.requests.clear()
            self.max_in_flight = self.in_flight

    def file_bytes(self, media_id: str) -> bytes:
        """The bytes served for this media's file."""
        if media_id in self.files:
            return self.files[media_id]
        size = self.file_size(media_id) if callable(self.file_size) else self.file_size
        return file_bytes(media_id, size)

    def file_sha256(self, media_id: str) -> str:
        return hashlib.sha256(self.file_bytes(media_id)).hexdigest()

    # -- request plumbing (handler threads) -------------------------------------------------

    @contextlib.contextmanager
    def _counted(self, request: ServedRequest) -> Iterator[None]:
        with self._lock:
            self.requests.append(request)
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            yield
        finally:
            with self._lock:
                self.in_flight -= 1

    def _take_fault(self, method: str, path: str) -> Fault | None:
        with self._lock:
            for scripted in self._faults:
                if scripted.method not in (None, method) or not scripted.pattern.search(path):
                    continue
                if scripted.remaining is not None:
                    scripted.remaining -= 1
                    if scripted.remaining <= 0:
                        self._faults.remove(scripted)
                return scripted.fault
        return None

    def _respond(self, request: ServedRequest) -> tuple[Answer | None, Fault | None]:
        """The answer (None: drop the connection) and the fault applied, if any."""
        if self.latency_s and request.path.startswith(self.base_path + "/"):
            time.sleep(self.latency_s)
        fault = self._take_fault(request.method, request.path)
        if fault is not None:
            if fault.delay_s:
                time.sleep(fault.delay_s)
            if fault.hold is not None:
                fault.hold.wait(HOLD_LIMIT_S)
            if fault.drop:
                return None, fault
            if fault.status is not None:
                headers = {"Content-Type": "application/json", **fault.headers}
                body = fault.body if fault.body is not None else _error_body(fault.status)
                return Answer(fault.status, body, headers), fault
        try:
            return self._answer(request), fault
        except Exception:
            log.exception("fake ClaimX API failed on %s %s", request.method, request.path)
            return _message(500, "fake server error"), fault

    # -- routes -----------------------------------------------------------------------------

    def _answer(self, request: ServedRequest) -> Answer:
        path = request.path
        if path.startswith(FILE_SERVICE_PREFIX):
            return self._file_service(request)
        if path.startswith(S3_PREFIX):
            return self._s3(request)
        prefix = self.base_path + "/"
        if not path.startswith(prefix):
            return _message(404, "not found")
        if request.headers.get("authorization") != f"Basic {self.token}":
            return _json_answer(
                401, {"message": "Unauthorized"}, {"WWW-Authenticate": 'Basic realm="ClaimX"'}
            )
        relative = path[len(prefix) :]
        for method, pattern, handler in _API_ROUTES:
            match = pattern.fullmatch(relative)
            if match and method == request.method:
                answer: Answer = getattr(self, handler)(request, *match.groups())
                return answer
        return _message(404 if request.method == "GET" else 405, "no such endpoint")

    def _project(self, project_id: str) -> FakeProject | None:
        return self.catalogue.project(project_id) if project_id.isdigit() else None

    def _e1_project(self, request: ServedRequest, project_id: str) -> Answer:
        project = self._project(project_id)
        if project is None:
            return _message(404, f"project {project_id} not found")
        return _json_answer(200, project.export)

    def _e2_media(self, request: ServedRequest, project_id: str) -> Answer:
        project = self._project(project_id)
        if project is None:
            return _message(404, f"project {project_id} not found")
        items = list(project.media)
        wanted = request.query.get("mediaIds")
        if wanted is not None and not self.ignore_media_filter:
            ids = {part.strip() for part in wanted.split(",")}
            items = [item for item in items if str(item.get("mediaID")) in ids]
        signed_at = self._link_time()
        return _json_answer(
            200, {"data": [self._served(project, item, signed_at) for item in items]}
        )

    def _link_time(self) -> datetime:
        with self._lock:
            if self._expired_left > 0:
                self._expired_left -= 1
                return self.now() - self._expired_age
        return self.now()

    def _served(self, project: FakeProject, item: dict[str, Any], signed_at: datetime) -> Any:
        served = copy.deepcopy(item)
        link = served.get("fullDownloadLink")
        if not isinstance(link, str):
            return served
        rewritten = rewrite_link(
            link,
            project_id=project.project_id,
            media_id=str(served.get("mediaID")),
            media_type=str(served.get("mediaType") or "bin"),
            origin=self.origin,
            signer=self._signer,
            signed_at=signed_at,
        )
        if rewritten is not None:
            served["fullDownloadLink"] = rewritten.url
            with self._lock:
                self._entries[rewritten.served_path] = rewritten.entry
                self._entries[rewritten.entry.s3_path] = rewritten.entry
        return served

    def _e3_assignment(self, request: ServedRequest, assignment_id: str) -> Answer:
        body = self.catalogue.assignment(assignment_id) if assignment_id.isdigit() else None
        if body is None:
            return _message(404, f"assignment {assignment_id} not found")
        if request.query.get("full") != "true":
            body = {key: value for key, value in body.items() if key not in _FULL_ONLY}
        return _json_answer(200, body)

    def _e4_video(self, request: ServedRequest) -> Answer:
        report = _json_object(request.body)
        if report is None or report.get("reportType") != "VIDEO_COLLABORATION":
            return _message(400, "reportType VIDEO_COLLABORATION expected")
        project_id = report.get("projectId")
        if not isinstance(project_id, int) or isinstance(project_id, bool):
            return _message(400, "projectId must be an integer")
        project = self._project(str(project_id))
        if project is None:
            return _message(404, f"project {project_id} not found")
        return _json_answer(200, {"data": list(project.video)})

    def _p1_project_id(self, request: ServedRequest) -> Answer:
        project = self.catalogue.project_by_number(request.query.get("projectNumber", ""))
        if project is None:
            return _message(404, "project number not found")
        return _json_answer(200, int(project.project_id))

    def _p2_action(self, request: ServedRequest) -> Answer:
        action = _json_object(request.body)
        if action is None or not isinstance(action.get("type"), str):
            return _message(400, "an action object with a type is expected")
        project = self._project(str(action.get("projectId")))
        if project is None:
            return _message(404, f"project {action.get('projectId')} not found")
        with self._lock:
            self.actions.append(action)
        return _json_answer(200, {"status": "OK"})

    # -- files ------------------------------------------------------------------------------

    def _entry(self, path: str) -> FileEntry | None:
        with self._lock:
            return self._entries.get(path)

    def _file_service(self, request: ServedRequest) -> Answer:
        entry = self._entry(request.path)
        if entry is None:
            return _message(404, "file not found")
        problem = self._signer.file_service_problem(request.path, request.query, self.now())
        if problem is not None:
            return _message(403, problem)
        location = self._signer.s3_link(self.origin, entry.s3_path, self.now(), S3_EXPIRES_S)
        return Answer(302, b"", {"Location": location})

    def _s3(self, request: ServedRequest) -> Answer:
        if "authorization" in request.headers:
            return _s3_error(400, "InvalidArgument", "Only one auth mechanism allowed")
        entry = self._entry(request.path)
        if entry is None:
            return _s3_error(404, "NoSuchKey", "The specified key does not exist.")
        problem = self._signer.s3_problem(request.path, request.query, self.now())
        if problem is not None:
            return _s3_error(403, "AccessDenied", problem)
        data = self.file_bytes(entry.media_id)
        headers = {"Content-Type": content_type(entry.media_type), "Accept-Ranges": "bytes"}
        match = _RANGE.fullmatch(request.headers.get("range", "").strip())
        if match is None:
            return Answer(200, data, headers)
        start = int(match.group(1))
        end = min(int(match.group(2)) + 1 if match.group(2) else len(data), len(data))
        if start >= len(data):
            return Answer(416, b"", {"Content-Range": f"bytes */{len(data)}"})
        headers["Content-Range"] = f"bytes {start}-{end - 1}/{len(data)}"
        return Answer(206, data[start:end], headers)


def _json_object(body: bytes) -> dict[str, Any] | None:
    try:
        value = json.loads(body)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _error_body(status: int) -> bytes:
    return json.dumps({"status": status, "message": "injected fault"}).encode()


def _s3_error(status: int, code: str, message: str) -> Answer:
    body = f"<Error><Code>{code}</Code><Message>{message}</Message></Error>".encode()
    return Answer(status, body, {"Content-Type": "application/xml"})


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    fake: FakeClaimxApi
    ssl_context: ssl.SSLContext | None = None

    def finish_request(self, request: Any, client_address: Any) -> None:
        if self.ssl_context is None:
            super().finish_request(request, client_address)
            return
        try:  # the handshake runs in the request's thread, not the accept loop
            secure = self.ssl_context.wrap_socket(request, server_side=True)
        except OSError:  # the client refused our certificate or went away
            return
        try:
            super().finish_request(secure, client_address)
        finally:
            secure.close()

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that disconnects early is normal here; route errors are logged


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in two writes: no delayed-ACK stall
    server_version = "vpipe-fake-claimx"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._serve("GET")

    def do_HEAD(self) -> None:
        self._serve("HEAD")

    def do_POST(self) -> None:
        self._serve("POST")

    def _serve(self, method: str) -> None:
        fake = self.server.fake
        request = self._request(method)
        with fake._counted(request):
            answer, fault = fake._respond(
                attrs.evolve(request, method="GET") if method == "HEAD" else request
            )
        if answer is None:
            self.close_connection = True
            return
        body = b"" if method == "HEAD" else answer.body
        self._send(answer, body, fault.truncate_to if fault is not None else None)

    def _request(self, method: str) -> ServedRequest:
        target, proxied_to = self.path, None
        if target.startswith(("http://", "https://")):
            parts = urlsplit(target)
            proxied_to = parts.netloc
            target = parts.path + (f"?{parts.query}" if parts.query else "")
        path, _, query = target.partition("?")
        length = int(self.headers.get("Content-Length") or 0)
        return ServedRequest(
            method=method,
            path=path,
            query=dict(parse_qsl(query, keep_blank_values=True)),
            headers={name.lower(): value for name, value in self.headers.items()},
            body=self.rfile.read(length) if length else b"",
            proxied_to=proxied_to,
        )

    def _send(self, answer: Answer, body: bytes, truncate_to: int | None) -> None:
        self.send_response(answer.status)
        for name, value in answer.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(answer.body)))
        self.end_headers()
        try:
            self.wfile.write(body if truncate_to is None else body[:truncate_to])
            self.wfile.flush()
        except OSError:
            self.close_connection = True
        if truncate_to is not None:
            self.close_connection = True


def main(argv: list[str] | None = None) -> None:
    """`python -m vpipe_testing.claimx.fake_api [--port N] [--generate FIRST-LAST]`: serve
    until interrupted, printing the CLAIMX_API_URL and CLAIMX_API_TOKEN to use."""
    import argparse

    parser = argparse.ArgumentParser(description="fake ClaimX REST API on 127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--generate", default="", help="project id range served as generated")
    args = parser.parse_args(argv)
    first, _, last = args.generate.partition("-")
    ids = range(int(first), int(last or first) + 1) if first else range(0)
    with FakeClaimxApi(port=args.port, generate=lambda pid: int(pid) in ids) as fake:
        print(f"CLAIMX_API_URL={fake.url}\nCLAIMX_API_TOKEN={fake.token}", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()


if __name__ == "__main__":
    main()
