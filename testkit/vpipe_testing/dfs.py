"""A local ADLS Gen2 (DFS) endpoint, so the real `azure-storage-file-datalake` client can run.

It speaks the subset of the DFS REST API (plus the few Blob-endpoint calls the DataLake SDK makes
under the hood) needed to upload, inspect, read and delete files:

| request | operation |
|---|---|
| `PUT /{fs}?resource=filesystem`, `PUT /{fs}?restype=container` | create a filesystem |
| `HEAD /{fs}?restype=container`, `DELETE /{fs}?...` | filesystem exists / delete |
| `PUT /{fs}/{path}?resource=file` (`directory`) | create (truncates an existing file) |
| `PATCH /{fs}/{path}?action=append&position=N` | stage bytes at position N |
| `PATCH /{fs}/{path}?action=flush&position=N` | commit staged bytes, N = final length |
| `PUT /{fs}/{path}?mode=legacy`, header `x-ms-rename-source: /{fs}/{src}` | rename, replacing |
| `HEAD`, `GET` (with `Range` / `x-ms-range`), `DELETE` on a path | properties, read, delete |

The SDK addresses a loopback endpoint Azurite-style: `http://127.0.0.1:<port>/<account>/<fs>/...`,
so the first path segment is the account name and is ignored. Files live under
`root/<fs>/<path>` so tests can compare bytes; appends are staged in a private directory and
only reach `root` on flush, as in the real service.

**Authentication over plain http.** The SDK refuses a token credential on an `http://` URL
("Token credential is only supported with HTTPS"), so the default (`tls=False`) endpoint is used
with an account-key credential (`AzureNamedKeyCredential`): requests are signed with
`SharedKey`, which the stand-in accepts without checking. With `tls=True` the endpoint serves
https with a throw-away self-signed certificate (`ca_file`), and a static bearer token
(`StaticTokenCredential`) exercises the production `Bearer` path. Either way any Authorization
header is accepted; its scheme is recorded in `requests`.

Fault injection: `fail_next(n, status)` answers the next n matching requests with a DFS-style
error, `delay_next(seconds)` holds the next response back (client timeouts).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import tempfile
import threading
import time
import uuid
from collections.abc import Iterable
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple
from urllib.parse import parse_qsl, unquote, urlsplit

from vpipe_testing.http_server import LoopbackHTTPServer
from vpipe_testing.tls import self_signed_pem

if TYPE_CHECKING:
    from azure.storage.filedatalake import DataLakeServiceClient

API_VERSION = "2025-01-05"
ACCOUNT_KEY = base64.b64encode(b"vpipe-local-dfs-key").decode()

# Error code a fault carries when the test does not name one.
_DEFAULT_CODES = {
    400: "InvalidResourceName",
    401: "InvalidAuthenticationInfo",
    403: "AuthorizationPermissionMismatch",
    404: "FilesystemNotFound",
    408: "OperationTimedOut",
    409: "PathConflict",
    412: "ConditionNotMet",
    429: "TooManyRequests",
    500: "InternalError",
    503: "ServerBusy",
}


class DfsRequest(NamedTuple):
    """One request as the stand-in saw it (path without the account segment)."""

    method: str
    path: str
    query: dict[str, str]
    auth_scheme: str | None  # "SharedKey", "Bearer", ... or None without Authorization
    status: int
    body_bytes: int

    @property
    def operation(self) -> str:
        """`append`, `flush`, `file`, `rename`, `filesystem`, `container`, ... or the method in
        lower case."""
        q = self.query
        if q.get("mode") == "legacy":
            return "rename"
        return q.get("action") or q.get("resource") or q.get("restype") or self.method.lower()


class _Fault(NamedTuple):
    status: int
    code: str
    method: str | None
    operation: str | None


class DfsError(Exception):
    """Raised inside the handler; becomes an error response."""

    def __init__(self, status: int, code: str, message: str = "") -> None:
        super().__init__(message or code)
        self.status = status
        self.code = code
        self.message = message or code


class _Staged:
    """Appended but not yet flushed bytes of one path: a sparse file plus the written ranges."""

    def __init__(self, file: Path) -> None:
        self.file = file
        self.ranges: list[tuple[int, int]] = []

    def write(self, position: int, data: bytes) -> None:
        mode = "r+b" if self.file.exists() else "wb"
        with self.file.open(mode) as fh:
            fh.seek(position)
            fh.write(data)
        self.ranges.append((position, position + len(data)))

    def covers(self, start: int, end: int) -> bool:
        """True when the staged ranges cover [start, end) without a gap."""
        reached = start
        for lo, hi in sorted(self.ranges):
            if lo > reached:
                break
            reached = max(reached, hi)
        return reached >= end

    def discard(self) -> None:
        self.file.unlink(missing_ok=True)


class LocalDfs:
    """Start with `start()` (or `with`), stop with `stop()` (idempotent).

    `filesystems` are created up front; more with `create_filesystem()` or through the SDK.
    """

    def __init__(
        self,
        root: Path | str,
        *,
        account: str = "devaccount",
        filesystems: Iterable[str] = (),
        tls: bool = False,
    ) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.account = account
        self.tls = tls
        self.ca_file: str | None = None
        self._lock = threading.RLock()
        self._faults: list[_Fault] = []
        self._delays: list[float] = []
        self._requests: list[DfsRequest] = []
        self._staged: dict[tuple[str, str], _Staged] = {}
        self._content_types: dict[tuple[str, str], str] = {}
        self._private = Path(tempfile.mkdtemp(prefix="vpipe-dfs-"))
        self._server: LoopbackHTTPServer | None = None
        for name in filesystems:
            self.create_filesystem(name)

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> LocalDfs:
        server = LoopbackHTTPServer(("127.0.0.1", 0), _Handler)
        server.dfs = self  # type: ignore[attr-defined]
        if self.tls:
            server.socket = self._tls_context().wrap_socket(server.socket, server_side=True)
        self._server = server
        server.serve_in_background("vpipe-local-dfs")
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.stop_serving()
        shutil.rmtree(self._private, ignore_errors=True)

    def __enter__(self) -> LocalDfs:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("LocalDfs is not started")
        return int(self._server.server_address[1])

    @property
    def account_url(self) -> str:
        """What `DataLakeServiceClient` takes: `http(s)://127.0.0.1:<port>/<account>`."""
        scheme = "https" if self.tls else "http"
        return f"{scheme}://127.0.0.1:{self.port}/{self.account}"

    @property
    def hosts(self) -> frozenset[str]:
        """The host `parse_abfss` must take as path-style (ONELAKE_PATH_STYLE_HOSTS)."""
        return frozenset({"127.0.0.1"})

    @property
    def env(self) -> dict[str, str]:
        """What an upload worker needs besides ONELAKE_BASE_PATH (`url`) to accept this one."""
        return {"ONELAKE_PATH_STYLE_HOSTS": ",".join(sorted(self.hosts))}

    def url(self, filesystem: str, path: str = "") -> str:
        """A DFS URL for `filesystem[/path]`, as `parse_abfss` accepts it for `hosts`."""
        return f"{self.account_url}/{filesystem}" + (f"/{path.strip('/')}" if path else "")

    # -- SDK helpers -----------------------------------------------------------------------

    @property
    def credential(self) -> Any:
        """A credential the SDK accepts for this endpoint (see the module docstring)."""
        if self.tls:
            return StaticTokenCredential()
        from azure.core.credentials import AzureNamedKeyCredential

        return AzureNamedKeyCredential(self.account, ACCOUNT_KEY)

    def service_client(self, credential: Any = None, **kwargs: Any) -> DataLakeServiceClient:
        """A real `DataLakeServiceClient` for this endpoint.

        Defaults suited to tests: two SDK retries without back-off, short timeouts, and the
        self-signed certificate trusted in TLS mode. Any keyword overrides them.
        """
        from azure.storage.filedatalake import DataLakeServiceClient, ExponentialRetry

        kwargs.setdefault(
            "retry_policy",
            ExponentialRetry(
                initial_backoff=0, increment_base=0, retry_total=2, random_jitter_range=0
            ),
        )
        kwargs.setdefault("connection_timeout", 5)
        kwargs.setdefault("read_timeout", 30)
        if self.ca_file:
            kwargs.setdefault("connection_verify", self.ca_file)
        return DataLakeServiceClient(
            self.account_url, credential=credential or self.credential, **kwargs
        )

    # -- state for assertions --------------------------------------------------------------

    def create_filesystem(self, name: str) -> None:
        (self.root / _check_segment(name)).mkdir(parents=True, exist_ok=True)

    def local_path(self, filesystem: str, path: str) -> Path:
        """Where the committed bytes of `filesystem/path` live on disk."""
        return self.root / filesystem / path.strip("/")

    def sha256(self, filesystem: str, path: str) -> str:
        digest = hashlib.sha256()
        with self.local_path(filesystem, path).open("rb") as fh:
            while chunk := fh.read(1 << 20):
                digest.update(chunk)
        return digest.hexdigest()

    @property
    def requests(self) -> list[DfsRequest]:
        with self._lock:
            return list(self._requests)

    def clear_requests(self) -> None:
        with self._lock:
            self._requests.clear()

    # -- fault injection -------------------------------------------------------------------

    def fail_next(
        self,
        n: int = 1,
        status: int = 503,
        *,
        code: str | None = None,
        method: str | None = None,
        operation: str | None = None,
    ) -> None:
        """Answer the next `n` requests (matching `method` / `operation` if given) with `status`.

        `operation` is `DfsRequest.operation`, e.g. "append", "flush", "file".
        """
        fault = _Fault(
            status, code or _DEFAULT_CODES.get(status, "InternalError"), method, operation
        )
        with self._lock:
            self._faults.extend([fault] * n)

    def delay_next(self, seconds: float, n: int = 1) -> None:
        """Hold back the response to each of the next `n` requests by `seconds`."""
        with self._lock:
            self._delays.extend([seconds] * n)

    def _take_fault(self, method: str, operation: str) -> _Fault | None:
        with self._lock:
            for i, fault in enumerate(self._faults):
                if fault.method not in (None, method):
                    continue
                if fault.operation not in (None, operation):
                    continue
                return self._faults.pop(i)
        return None

    def _take_delay(self) -> float:
        with self._lock:
            return self._delays.pop(0) if self._delays else 0.0

    def _record(self, request: DfsRequest) -> None:
        with self._lock:
            self._requests.append(request)

    # -- operations (called by the handler, under the lock) --------------------------------

    def _fs_dir(self, filesystem: str, *, blob: bool = False) -> Path:
        directory = self.root / filesystem
        if not directory.is_dir():
            raise DfsError(404, "ContainerNotFound" if blob else "FilesystemNotFound")
        return directory

    def _path(self, filesystem: str, path: str, *, blob: bool = False) -> Path:
        return self._fs_dir(filesystem, blob=blob) / path

    def _staging(self, key: tuple[str, str]) -> _Staged:
        staged = self._staged.get(key)
        if staged is None:
            staged = self._staged[key] = _Staged(self._private / uuid.uuid4().hex)
        return staged

    def _drop_staging(self, key: tuple[str, str]) -> None:
        staged = self._staged.pop(key, None)
        if staged is not None:
            staged.discard()

    def op_create_filesystem(self, filesystem: str, *, blob: bool) -> None:
        directory = self.root / filesystem
        if directory.is_dir():
            raise DfsError(409, "ContainerAlreadyExists" if blob else "FilesystemAlreadyExists")
        directory.mkdir(parents=True)

    def op_delete_filesystem(self, filesystem: str, *, blob: bool) -> None:
        directory = self._fs_dir(filesystem, blob=blob)
        for key in [k for k in self._staged if k[0] == filesystem]:
            self._drop_staging(key)
        shutil.rmtree(directory)

    def op_create_path(self, filesystem: str, path: str, resource: str, headers: Any) -> Path:
        target = self._path(filesystem, path)
        for parent in reversed(target.relative_to(self.root / filesystem).parents):
            if (self.root / filesystem / parent).is_file():
                raise DfsError(409, "PathConflict", f"{parent} is a file")
        if headers.get("If-None-Match") == "*" and target.exists():
            raise DfsError(409, "PathAlreadyExists")
        key = (filesystem, path)
        if resource == "directory":
            if target.is_file():
                raise DfsError(409, "PathConflict", "a file exists at this path")
            target.mkdir(parents=True, exist_ok=True)
            return target
        if target.is_dir():
            raise DfsError(409, "PathConflict", "a directory exists at this path")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(b"")
        self._drop_staging(key)
        content_type = headers.get("x-ms-content-type")
        if content_type:
            self._content_types[key] = content_type
        else:
            self._content_types.pop(key, None)
        return target

    def op_append(self, filesystem: str, path: str, position: int, body: bytes) -> None:
        target = self._path(filesystem, path)
        if not target.is_file():
            raise DfsError(404, "PathNotFound")
        if position < target.stat().st_size:
            raise DfsError(400, "InvalidFlushPosition", "append below the committed length")
        self._staging((filesystem, path)).write(position, body)

    def op_flush(self, filesystem: str, path: str, position: int, headers: Any) -> Path:
        target = self._path(filesystem, path)
        if not target.is_file():
            raise DfsError(404, "PathNotFound")
        key = (filesystem, path)
        committed = target.stat().st_size
        staged = self._staged.get(key)
        if position < committed or (
            position > committed and (staged is None or not staged.covers(committed, position))
        ):
            raise DfsError(
                400,
                "InvalidFlushPosition",
                f"position {position} does not match the appended length",
            )
        if staged is not None and position > committed:
            _commit(staged.file, target, committed, position)
        self._drop_staging(key)
        content_type = headers.get("x-ms-content-type")
        if content_type:
            self._content_types[key] = content_type
        return target

    def op_rename(self, filesystem: str, path: str, rename_source: str) -> Path:
        """Move a committed file onto `path` in one step, replacing what is there."""
        from urllib.parse import unquote, urlsplit

        source_fs, _, source_path = unquote(urlsplit(rename_source).path).lstrip("/").partition("/")
        for segment in source_path.split("/"):
            _check_segment(segment)
        source = self._path(_check_segment(source_fs), source_path)
        if not source.is_file():
            raise DfsError(404, "SourcePathNotFound")
        target = self._path(filesystem, path)
        if target.is_dir():
            raise DfsError(409, "PathConflict", "a directory exists at this path")
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(source, target)
        self._drop_staging((source_fs, source_path))
        content_type = self._content_types.pop((source_fs, source_path), None)
        if content_type:
            self._content_types[(filesystem, path)] = content_type
        return target

    def op_delete_path(self, filesystem: str, path: str, recursive: bool) -> None:
        target = self._path(filesystem, path)
        if target.is_file():
            target.unlink()
        elif target.is_dir():
            if any(target.iterdir()) and not recursive:
                raise DfsError(409, "DirectoryNotEmpty")
            shutil.rmtree(target)
        else:
            raise DfsError(404, "PathNotFound")
        for key in [k for k in self._staged if k[0] == filesystem and _under(k[1], path)]:
            self._drop_staging(key)
            self._content_types.pop(key, None)

    def content_type(self, filesystem: str, path: str) -> str:
        return self._content_types.get((filesystem, path), "application/octet-stream")

    # -- TLS -------------------------------------------------------------------------------

    def _tls_context(self) -> Any:
        import ssl

        cert, key = self_signed_pem("vpipe-local-dfs")
        cert_file = self._private / "cert.pem"
        key_file = self._private / "key.pem"
        cert_file.write_bytes(cert)
        key_file.write_bytes(key)
        key_file.chmod(0o600)
        self.ca_file = str(cert_file)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert_file, key_file)
        return context


class StaticTokenCredential:
    """A `TokenCredential` handing out one fixed bearer token (the stand-in checks none)."""

    def __init__(self, token: str = "vpipe-local-token") -> None:
        self.token = token
        self.calls = 0

    def get_token(self, *scopes: str, **kwargs: Any) -> Any:
        from azure.core.credentials import AccessToken

        self.calls += 1
        return AccessToken(self.token, int(time.time()) + 3600)


def _commit(staging: Path, target: Path, start: int, end: int) -> None:
    """Make staged bytes [start, end) part of `target` (which holds `start` bytes)."""
    if start == 0:
        with staging.open("r+b") as fh:
            fh.truncate(end)
        staging.replace(target)
        return
    with staging.open("rb") as src, target.open("r+b") as dst:
        src.seek(start)
        dst.seek(start)
        remaining = end - start
        while remaining:
            chunk = src.read(min(remaining, 1 << 20))
            dst.write(chunk)
            remaining -= len(chunk)
        dst.truncate(end)


def _under(path: str, prefix: str) -> bool:
    return path == prefix or path.startswith(prefix.rstrip("/") + "/")


def _check_segment(segment: str) -> str:
    if segment in ("", ".", "..") or "\\" in segment or "\x00" in segment:
        raise DfsError(400, "InvalidResourceName", f"invalid path segment {segment!r}")
    return segment


def _etag(stat_result: Any) -> str:
    return f'"0x{stat_result.st_mtime_ns:X}"'


def _http_date(seconds: float) -> str:
    return formatdate(seconds, usegmt=True)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # no delayed-ACK stall between header and body writes
    server_version = "vpipe-local-dfs"

    # Filled per request.
    recorded: bool
    fs: str
    rel: str
    query: dict[str, str]
    body: bytes

    @property
    def dfs(self) -> LocalDfs:
        return self.server.dfs  # type: ignore[attr-defined]

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_PUT(self) -> None:
        self._serve()

    def do_PATCH(self) -> None:
        self._serve()

    def do_HEAD(self) -> None:
        self._serve()

    def do_GET(self) -> None:
        self._serve()

    def do_DELETE(self) -> None:
        self._serve()

    # -- plumbing --------------------------------------------------------------------------

    def _serve(self) -> None:
        self.body = self._read_body()
        self.recorded = False
        try:
            self._parse_target()
            operation = DfsRequest(self.command, "", self.query, None, 0, 0).operation
            fault = self.dfs._take_fault(self.command, operation)
            delay = self.dfs._take_delay()
            if delay:
                time.sleep(delay)
            if fault is not None:
                raise DfsError(fault.status, fault.code, "injected fault")
            self._dispatch()
        except DfsError as err:
            self._error(err)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        except Exception as err:  # the stand-in must answer, whatever went wrong
            self._error(DfsError(500, "InternalError", f"{type(err).__name__}: {err}"))
        finally:
            self._record(0)

    def _record(self, status: int) -> None:
        """Log the request once, before its response is sent (so a client that has the
        response always finds the request in `LocalDfs.requests`)."""
        if self.recorded:
            return
        self.recorded = True
        auth = self.headers.get("Authorization")
        self.dfs._record(
            DfsRequest(
                self.command,
                f"{getattr(self, 'fs', '')}/{getattr(self, 'rel', '')}".strip("/"),
                getattr(self, "query", {}),
                auth.split(" ", 1)[0] if auth else None,
                status,
                len(self.body),
            )
        )

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            parts: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    return b"".join(parts)
                parts.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _parse_target(self) -> None:
        url = urlsplit(self.path)
        self.query = dict(parse_qsl(url.query, keep_blank_values=True))
        segments = unquote(url.path).strip("/").split("/")
        # segments[0] is the account name (Azurite-style loopback addressing).
        if len(segments) < 2:
            raise DfsError(400, "UnsupportedOperation", "account-level operations are not served")
        self.fs = _check_segment(segments[1])
        rest = segments[2:]
        for segment in rest:
            _check_segment(segment)
        self.rel = "/".join(rest)

    def _dispatch(self) -> int:
        with self.dfs._lock:
            if not self.rel:
                return self._filesystem_op()
            if self.command == "PUT":
                return self._create_path()
            if self.command == "PATCH":
                return self._update_path()
            if self.command == "DELETE":
                self.dfs.op_delete_path(
                    self.fs, self.rel, self.query.get("recursive", "").lower() == "true"
                )
                return self._reply(200)
            if self.command == "HEAD":
                return self._properties()
        # GET streams outside the lock.
        return self._read()

    def _filesystem_op(self) -> int:
        blob = "restype" in self.query
        if self.command == "PUT" and (blob or self.query.get("resource") == "filesystem"):
            self.dfs.op_create_filesystem(self.fs, blob=blob)
            return self._reply(201, self._fs_headers())
        if self.command == "HEAD" or (self.command == "GET" and blob and "comp" not in self.query):
            self.dfs._fs_dir(self.fs, blob=blob)
            return self._reply(200, self._fs_headers())
        if self.command == "DELETE":
            self.dfs.op_delete_filesystem(self.fs, blob=blob)
            return self._reply(202)
        raise DfsError(501, "UnsupportedOperation", f"{self.command} on a filesystem")

    def _create_path(self) -> int:
        source = self.headers.get("x-ms-rename-source")
        if source is not None:
            target = self.dfs.op_rename(self.fs, self.rel, source)
            return self._reply(201, self._path_headers(target, with_length=False))
        resource = self.query.get("resource")
        if resource not in ("file", "directory") or "mode" in self.query:
            raise DfsError(501, "UnsupportedOperation", "only resource=file|directory")
        target = self.dfs.op_create_path(self.fs, self.rel, resource, self.headers)
        return self._reply(201, self._path_headers(target, with_length=False))

    def _update_path(self) -> int:
        action = self.query.get("action")
        position = self._position()
        if action == "append":
            self._check_md5()
            self.dfs.op_append(self.fs, self.rel, position, self.body)
            return self._reply(202, {"x-ms-request-server-encrypted": "false"})
        if action == "flush":
            if self.body:
                raise DfsError(400, "ContentLengthMustBeZero")
            target = self.dfs.op_flush(self.fs, self.rel, position, self.headers)
            return self._reply(200, self._path_headers(target, with_length=False))
        raise DfsError(501, "UnsupportedOperation", f"action={action}")

    def _position(self) -> int:
        raw = self.query.get("position")
        if raw is None:
            if self.query.get("action") in ("append", "flush"):
                raise DfsError(400, "MissingRequiredQueryParameter", "position")
            return 0
        try:
            position = int(raw)
        except ValueError:
            raise DfsError(400, "InvalidQueryParameterValue", f"position={raw}") from None
        if position < 0:
            raise DfsError(400, "InvalidQueryParameterValue", f"position={raw}")
        return position

    def _check_md5(self) -> None:
        expected = self.headers.get("Content-MD5")
        if expected and base64.b64encode(hashlib.md5(self.body).digest()).decode() != expected:
            raise DfsError(400, "Md5Mismatch", "Content-MD5 does not match the body")

    def _properties(self) -> int:
        target = self.dfs._path(self.fs, self.rel, blob=True)
        if not target.exists():
            raise DfsError(404, "BlobNotFound")
        self._check_conditions(target)
        return self._reply(200, self._path_headers(target, with_length=True))

    def _read(self) -> int:
        with self.dfs._lock:
            target = self.dfs._path(self.fs, self.rel, blob=True)
            if not target.is_file():
                raise DfsError(404, "BlobNotFound")
            self._check_conditions(target)
            headers = self._path_headers(target, with_length=False)
            size = target.stat().st_size
            span = self._range(size)
            handle = target.open("rb")
        with handle:
            start, end = span if span else (0, size - 1)
            length = max(end - start + 1, 0)
            status = 206 if span else 200
            if span:
                headers["Content-Range"] = f"bytes {start}-{end}/{size}"
            headers["Content-Length"] = str(length)
            self._start(status, headers)
            handle.seek(start)
            remaining = length
            while remaining:
                chunk = handle.read(min(remaining, 1 << 20))
                if not chunk:
                    break
                self.wfile.write(chunk)
                remaining -= len(chunk)
        return status

    def _range(self, size: int) -> tuple[int, int] | None:
        raw = self.headers.get("x-ms-range") or self.headers.get("Range")
        if not raw:
            return None
        try:
            first, _, last = raw.split("=", 1)[1].partition("-")
            start = int(first)
            end = int(last) if last else size - 1
        except (IndexError, ValueError):
            raise DfsError(400, "InvalidRange", raw) from None
        if start >= size:
            raise DfsError(416, "InvalidRange", f"{raw} of {size} bytes")
        return start, min(end, size - 1)

    def _check_conditions(self, target: Path) -> None:
        etag = _etag(target.stat())
        if_match = self.headers.get("If-Match")
        if if_match and if_match not in ("*", etag):
            raise DfsError(412, "ConditionNotMet")
        if_none = self.headers.get("If-None-Match")
        if if_none and if_none in ("*", etag):
            raise DfsError(304, "ConditionNotMet")

    # -- responses -------------------------------------------------------------------------

    def _fs_headers(self) -> dict[str, str]:
        stat_result = (self.dfs.root / self.fs).stat()
        return {"ETag": _etag(stat_result), "Last-Modified": _http_date(stat_result.st_mtime)}

    def _path_headers(self, target: Path, *, with_length: bool) -> dict[str, str]:
        stat_result = target.stat()
        is_dir = target.is_dir()
        headers = {
            "ETag": _etag(stat_result),
            "Last-Modified": _http_date(stat_result.st_mtime),
            "x-ms-creation-time": _http_date(stat_result.st_ctime),
            "x-ms-resource-type": "directory" if is_dir else "file",
            "x-ms-blob-type": "BlockBlob",
            "x-ms-lease-state": "available",
            "x-ms-lease-status": "unlocked",
            "x-ms-server-encrypted": "false",
            "x-ms-request-server-encrypted": "false",
            "Accept-Ranges": "bytes",
            "Content-Type": self.dfs.content_type(self.fs, self.rel),
        }
        if is_dir:
            headers["x-ms-meta-hdi_isfolder"] = "true"
        if with_length:
            headers["Content-Length"] = "0" if is_dir else str(stat_result.st_size)
        return headers

    def _start(self, status: int, headers: dict[str, str]) -> None:
        self._record(status)
        self.send_response(status)
        self.send_header("x-ms-request-id", str(uuid.uuid4()))
        self.send_header("x-ms-version", self.headers.get("x-ms-version") or API_VERSION)
        client_id = self.headers.get("x-ms-client-request-id")
        if client_id:
            self.send_header("x-ms-client-request-id", client_id)
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()

    def _reply(self, status: int, headers: dict[str, str] | None = None, body: bytes = b"") -> int:
        headers = dict(headers or {})
        headers.setdefault("Content-Length", str(len(body)))
        self._start(status, headers)
        if body and self.command != "HEAD":
            self.wfile.write(body)
        return status

    def _error(self, err: DfsError) -> None:
        blob_style = "restype" in getattr(self, "query", {}) or self.command in ("GET", "HEAD")
        if blob_style:
            body = (
                '<?xml version="1.0" encoding="utf-8"?><Error>'
                f"<Code>{err.code}</Code><Message>{_xml_escape(err.message)}</Message></Error>"
            ).encode()
            content_type = "application/xml"
        else:
            body = json.dumps({"error": {"code": err.code, "message": err.message}}).encode()
            content_type = "application/json;charset=utf-8"
        if self.command == "HEAD" or err.status == 304:
            body = b""
        try:
            self._reply(
                err.status,
                {"x-ms-error-code": err.code, "Content-Type": content_type},
                body,
            )
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True


def _xml_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
