"""Upload cached files to OneLake (ADLS Gen2, DFS API), or to a local directory for the demo.

Both stores share one contract: `upload(local_path, relative_path) -> UploadResult`, overwriting
whatever is at the destination (re-uploads are idempotent), hashing the bytes as they are read,
raising `FileNotFoundError` when the local file is gone (the worker re-downloads) and
`UploadError(category, message)` for everything that went wrong on the storage side.

Retries: each SDK request is retried by the SDK's own storage retry policy (configured in
`build_service_client`: 2 retries, a few seconds of back-off; 408 and 5xx, connection errors and
timeouts). What still fails is raised as `UploadError` and the worker routes it (a transient one
to the next retry tier). The uploader itself repeats an upload only after a 401, once, with a
rebuilt client (`on_auth_error` may invalidate the cached token first).

Azure modules are imported inside the functions that use them, so importing this module costs
nothing for workers that never upload.
"""

from __future__ import annotations

import contextlib
import enum
import hashlib
import os
import re
import tempfile
import threading
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, Protocol
from urllib.parse import unquote, urlsplit

import attrs

if TYPE_CHECKING:
    from azure.storage.filedatalake import DataLakeServiceClient

MIB = 1024 * 1024
MAX_CHUNK_MB = 100  # the DFS append limit we rely on (newer API versions allow more)
MAX_PATH_CHARS = 1024
ONELAKE_HOST_SUFFIX = "onelake.dfs.fabric.microsoft.com"
ADLS_HOST_SUFFIX = ".dfs.core.windows.net"
PATH_STYLE_SETTING = "ONELAKE_PATH_STYLE_HOSTS"


class ErrorCategory(enum.StrEnum):
    """How the worker should route a failed upload."""

    TRANSIENT = "transient"  # 408/429/5xx, timeouts, connection errors: next retry tier
    PERMANENT = "permanent"  # 400 invalid path or name: dead + failed_permanent result
    AUTH = "auth"  # 401 after one credential refresh: auth retry
    INFRASTRUCTURE = "infrastructure"  # 403/404 on the filesystem: retry in place, not ready


class UploadError(Exception):
    """A failed upload; `status` is the last HTTP status seen, when there was one."""

    def __init__(
        self,
        category: ErrorCategory,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.category = category
        self.message = message
        self.status = status
        self.code = code

    def __str__(self) -> str:
        return f"{self.category}: {self.message}"


@attrs.frozen
class UploadResult:
    """`path` is the destination path inside the filesystem (OneLake) or the absolute file path."""

    path: str
    bytes: int
    sha256: str


class Store(Protocol):
    def upload(
        self,
        local_path: str | os.PathLike[str],
        relative_path: str,
        *,
        content_type: str | None = ...,
    ) -> UploadResult: ...

    def close(self) -> None: ...


# -- destinations -----------------------------------------------------------------------------


def parse_abfss(uri: str, path_style_hosts: frozenset[str] = frozenset()) -> tuple[str, str, str]:
    """Split a DFS destination into `(account_url, filesystem, base_path)`.

    Accepted: `abfss://<workspace>@onelake.dfs.fabric.microsoft.com/<item>/Files/<dir>`, the
    same as `https://onelake.dfs.fabric.microsoft.com/<workspace>/<item>/Files/<dir>`, ADLS Gen2
    accounts (`abfss://<fs>@<account>.dfs.core.windows.net/<dir>`), and endpoints addressed
    path-style on `path_style_hosts` (ONELAKE_PATH_STYLE_HOSTS: `http(s)://<host>:<port>/<account>/
    <fs>/<dir>`, local emulators such as the test kit's DFS stand-in). OneLake destinations must
    lie under an item's `Files` folder. Anything else raises `ValueError`.
    """
    if "${" in uri:
        raise ValueError(f"unresolved variable in storage URI {uri!r}")
    parts = urlsplit(uri.strip())
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    segments = _segments(parts.path, uri)
    if scheme == "abfss":
        filesystem, at, _ = parts.netloc.rpartition("@")
        if not at or not filesystem:
            raise ValueError(f"expected abfss://<workspace>@<host>/<path>, got {uri!r}")
        _check_dfs_host(host, uri)
        account_url = f"https://{host}"
    elif scheme in ("https", "http") and host in path_style_hosts:
        if len(segments) < 2:
            raise ValueError(f"expected {scheme}://{host}:<port>/<account>/<fs>/..., got {uri!r}")
        account_url = f"{scheme}://{parts.netloc}/{segments.pop(0)}"
        filesystem = segments.pop(0)
    elif scheme == "https":
        _check_dfs_host(host, uri)
        if not segments:
            raise ValueError(f"no filesystem (workspace) in {uri!r}")
        account_url = f"https://{parts.netloc.lower()}"
        filesystem = segments.pop(0)
    else:
        raise ValueError(
            f"unsupported storage URI {uri!r}: expected abfss://<workspace>@"
            f"{ONELAKE_HOST_SUFFIX}/<lakehouse>.Lakehouse/Files/<dir> or file:///<dir> "
            f"(a local DFS endpoint needs its host in {PATH_STYLE_SETTING})"
        )
    if host.endswith(ONELAKE_HOST_SUFFIX) and (len(segments) < 2 or segments[1] != "Files"):
        raise ValueError(
            f"OneLake destination must be under <lakehouse>.Lakehouse/Files/..., got {uri!r}"
        )
    return account_url, unquote(filesystem), "/".join(segments)


def _check_dfs_host(host: str, uri: str) -> None:
    if not (host.endswith(ONELAKE_HOST_SUFFIX) or host.endswith(ADLS_HOST_SUFFIX)):
        raise ValueError(
            f"not a DFS endpoint in {uri!r}: expected {ONELAKE_HOST_SUFFIX} or "
            f"<account>{ADLS_HOST_SUFFIX} (a local one needs its host in {PATH_STYLE_SETTING})"
        )


def _segments(path: str, uri: str) -> list[str]:
    segments = [unquote(s) for s in path.strip("/").split("/") if s]
    if any(s in (".", "..") for s in segments):
        raise ValueError(f"'.' or '..' in storage path {uri!r}")
    return segments


_DRIVE = re.compile(r"^[A-Za-z]:")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def safe_relative_path(relative_path: str) -> str:
    """`relative_path` when it stays inside its base directory; else a permanent `UploadError`.

    Refused: empty, absolute (`/x`, `C:x`), backslashes, control characters, `.`, `..` or empty
    segments, over 1024 characters.
    """
    problem = _relative_path_problem(relative_path)
    if problem:
        raise UploadError(
            ErrorCategory.PERMANENT, f"refused destination path {relative_path!r}: {problem}"
        )
    return relative_path


def _relative_path_problem(path: str) -> str | None:
    if not isinstance(path, str) or not path:
        return "empty"
    if path.startswith("/") or _DRIVE.match(path):
        return "absolute path"
    if "\\" in path:
        return "backslash"
    if _CONTROL.search(path):
        return "control character"
    if len(path) > MAX_PATH_CHARS:
        return f"longer than {MAX_PATH_CHARS} characters"
    if any(segment in ("", ".", "..") for segment in path.split("/")):
        return "empty, '.' or '..' segment"
    return None


# -- OneLake ----------------------------------------------------------------------------------


def _part_path(path: str) -> str:
    """`dir/.name.<random>.part`: hidden, unique to one attempt, in the target's directory."""
    directory, _, name = path.rpartition("/")
    part = f".{name[:200]}.{uuid.uuid4().hex[:12]}.part"
    return f"{directory}/{part}" if directory else part


class OneLakeUploader:
    """Chunked uploads (create, append, flush) through a shared `DataLakeServiceClient`.

    `service_client_factory` builds the client on first use and again after a 401. Every SDK
    request gets `timeout_s` as its connect (capped at 30 s) and read timeout. At most
    `max_concurrency` uploads run at once, so they never need more connections than the pool
    `build_service_client` sizes to the same number. Thread-safe: call `upload` from handler
    threads; it blocks.
    """

    def __init__(
        self,
        service_client_factory: Callable[[], DataLakeServiceClient],
        filesystem: str,
        base_path: str,
        timeout_s: float,
        chunk_mb: float = 4,
        max_concurrency: int = 10,
        *,
        on_auth_error: Callable[[], object] | None = None,
    ) -> None:
        if not 0 < chunk_mb <= MAX_CHUNK_MB:
            raise ValueError(f"chunk_mb must be in (0, {MAX_CHUNK_MB}], got {chunk_mb}")
        if timeout_s <= 0 or max_concurrency < 1:
            raise ValueError("timeout_s must be > 0 and max_concurrency >= 1")
        self._factory = service_client_factory
        self.filesystem = filesystem
        self.base_path = base_path.strip("/")
        self.timeout_s = timeout_s
        self.chunk_bytes = int(chunk_mb * MIB)
        self._on_auth_error = on_auth_error
        self._slots = threading.BoundedSemaphore(max_concurrency)
        self._client_lock = threading.Lock()
        self._client: DataLakeServiceClient | None = None
        self._generation = 0
        self._retired: list[DataLakeServiceClient] = []
        self._request_options = {
            "connection_timeout": min(timeout_s, 30.0),
            "read_timeout": timeout_s,
        }

    def destination(self, relative_path: str) -> str:
        """The path inside the filesystem that `relative_path` uploads to."""
        relative = safe_relative_path(relative_path)
        return f"{self.base_path}/{relative}" if self.base_path else relative

    def upload(
        self,
        local_path: str | os.PathLike[str],
        relative_path: str,
        *,
        content_type: str | None = None,
    ) -> UploadResult:
        path = self.destination(relative_path)
        with open(local_path, "rb") as source, self._slots:
            client, generation = self._current_client()
            try:
                return self._upload_once(client, source, path, content_type)
            except UploadError as err:
                if err.category is not ErrorCategory.AUTH:
                    raise
            self._refresh_client(generation)
            client, _ = self._current_client()
            source.seek(0)
            return self._upload_once(client, source, path, content_type)

    def close(self) -> None:
        with self._client_lock:
            clients = [*self._retired, *([self._client] if self._client else [])]
            self._client, self._retired = None, []
        for client in clients:
            client.close()

    def __enter__(self) -> OneLakeUploader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _upload_once(
        self, client: DataLakeServiceClient, source: BinaryIO, path: str, content_type: str | None
    ) -> UploadResult:
        """Write a part file of this attempt's own beside `path`, then rename it onto `path`:
        a reader never sees a partial file, and two attempts at the same file (a redelivered
        task while the first still runs, after a rebalance) never interleave their bytes."""
        part = _part_path(path)
        file_client = client.get_file_client(self.filesystem, part)
        self._call("create", part, file_client.create_file)
        try:
            result = self._write(file_client, source, part, content_type)
            self._call("rename", path, file_client.rename_file, f"{self.filesystem}/{path}")
        except BaseException:
            with contextlib.suppress(Exception):
                self._call("delete", part, file_client.delete_file)
            raise
        return UploadResult(path=path, bytes=result.bytes, sha256=result.sha256)

    def _write(
        self, file_client: Any, source: BinaryIO, path: str, content_type: str | None
    ) -> UploadResult:
        digest = hashlib.sha256()
        position = 0
        while chunk := source.read(self.chunk_bytes):
            digest.update(chunk)
            self._call(
                "append",
                path,
                file_client.append_data,
                chunk,
                offset=position,
                length=len(chunk),
                validate_content=True,
            )
            position += len(chunk)
        flush_options: dict[str, Any] = {"close": True}
        if content_type:
            from azure.storage.filedatalake import ContentSettings

            flush_options["content_settings"] = ContentSettings(content_type=content_type)
        self._call("flush", path, file_client.flush_data, position, **flush_options)
        return UploadResult(path=path, bytes=position, sha256=digest.hexdigest())

    def _call(
        self, operation: str, path: str, method: Callable[..., Any], *args: Any, **kw: Any
    ) -> Any:
        try:
            return method(*args, **kw, **self._request_options)
        except Exception as exc:
            raise classify_error(exc, operation=operation, path=path) from exc

    def _current_client(self) -> tuple[DataLakeServiceClient, int]:
        with self._client_lock:
            if self._client is None:
                try:
                    self._client = self._factory()
                except Exception as exc:
                    raise UploadError(
                        ErrorCategory.INFRASTRUCTURE,
                        f"cannot build the DataLake client: {type(exc).__name__}: {exc}",
                    ) from exc
            return self._client, self._generation

    def _refresh_client(self, generation: int) -> None:
        """After a 401: drop the client (once per generation) so the next use builds a new one."""
        with self._client_lock:
            if generation != self._generation:
                return  # another thread refreshed already
            self._generation += 1
            if self._client is not None:
                self._retired.append(self._client)  # may be in use elsewhere; closed in close()
                self._client = None
            if self._on_auth_error is not None:
                self._on_auth_error()


# 400s caused by a broken transfer or a concurrent writer: a fresh upload fixes them.
_TRANSIENT_400_CODES = {"InvalidFlushPosition", "Md5Mismatch", "AppendPositionConditionNotMet"}
# 409s that no retry fixes: a directory sits where the file should go.
_PERMANENT_409_CODES = {"PathConflict", "ResourceTypeMismatch"}
_FILESYSTEM_MISSING_CODES = {"FilesystemNotFound", "ContainerNotFound"}


def classify_error(exc: BaseException, *, operation: str, path: str) -> UploadError:
    """Map an SDK exception from `operation` on `path` to an `UploadError`."""
    from azure.core.exceptions import ClientAuthenticationError, HttpResponseError

    status = getattr(exc, "status_code", None) if isinstance(exc, HttpResponseError) else None
    code = _error_code(exc)
    detail = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__
    where = f"{operation} {path}"
    if status is None:
        category = (
            ErrorCategory.AUTH
            if isinstance(exc, ClientAuthenticationError)
            else ErrorCategory.TRANSIENT
        )
        return UploadError(category, f"{where}: {type(exc).__name__}: {detail}", code=code)
    category = _category_for_status(status, code, operation)
    message = f"{where}: HTTP {status}" + (f" {code}" if code else "") + f": {detail}"
    return UploadError(category, message, status=status, code=code)


def _category_for_status(status: int, code: str | None, operation: str) -> ErrorCategory:
    if status == 401:
        return ErrorCategory.AUTH
    if status == 403:
        return ErrorCategory.INFRASTRUCTURE
    if status == 404:
        if code in _FILESYSTEM_MISSING_CODES or operation == "create":
            return ErrorCategory.INFRASTRUCTURE
        return ErrorCategory.TRANSIENT  # the file vanished mid-upload; a fresh upload recreates it
    if status in (408, 429) or status >= 500:
        return ErrorCategory.TRANSIENT
    if status == 400:
        return ErrorCategory.TRANSIENT if code in _TRANSIENT_400_CODES else ErrorCategory.PERMANENT
    if status == 409:
        return ErrorCategory.PERMANENT if code in _PERMANENT_409_CODES else ErrorCategory.TRANSIENT
    if status == 412:
        return ErrorCategory.TRANSIENT
    if 400 <= status < 500:
        return ErrorCategory.PERMANENT
    return ErrorCategory.TRANSIENT


def _error_code(exc: BaseException) -> str | None:
    code = getattr(exc, "error_code", None)
    if code is None:
        response = getattr(exc, "response", None)
        headers = getattr(response, "headers", None) or {}
        code = headers.get("x-ms-error-code")
    if code is None:
        return None
    return str(getattr(code, "value", code))


def build_service_client(
    account_url: str,
    credential: Any,
    *,
    timeout_s: float,
    pool_size: int,
    ca_bundle: str | None = None,
    proxies: Mapping[str, str] | None = None,
    retry_total: int = 2,
) -> DataLakeServiceClient:
    """A `DataLakeServiceClient` with a connection pool of `pool_size` and bounded SDK retries.

    `proxies` (requests form, see `vpipe_core.transfer.netconf.ProxyConfig.requests_proxies`)
    come from the worker's effective environment; the session also keeps `trust_env`, so the
    process's `HTTPS_PROXY` / `NO_PROXY` apply as well. `ca_bundle` replaces the default trust
    store.
    """
    import requests
    from azure.core.pipeline.transport import RequestsTransport
    from azure.storage.filedatalake import DataLakeServiceClient, ExponentialRetry
    from requests.adapters import HTTPAdapter
    from urllib3.util.retry import Retry

    session = requests.Session()
    session.proxies.update(proxies or {})
    adapter = HTTPAdapter(
        pool_connections=2,
        pool_maxsize=max(pool_size, 1),
        max_retries=Retry(total=False, redirect=False, raise_on_status=False),
    )
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    transport = RequestsTransport(
        session=session,
        session_owner=True,
        connection_timeout=min(timeout_s, 30.0),
        read_timeout=timeout_s,
        connection_verify=ca_bundle or True,
    )
    retry = ExponentialRetry(
        initial_backoff=1, increment_base=2, retry_total=retry_total, random_jitter_range=1
    )
    return DataLakeServiceClient(
        account_url, credential=credential, transport=transport, retry_policy=retry
    )


# -- local directory (demo) -------------------------------------------------------------------


class FileStore:
    """Uploads into a local directory: temp file in the target directory, fsync, rename."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    def upload(
        self,
        local_path: str | os.PathLike[str],
        relative_path: str,
        *,
        content_type: str | None = None,
    ) -> UploadResult:
        target = self.root.joinpath(*safe_relative_path(relative_path).split("/"))
        with open(local_path, "rb") as source:
            try:
                target.parent.mkdir(parents=True, exist_ok=True)
                self._check_inside_root(target.parent, relative_path)
                size, sha256 = _copy_atomically(source, target)
            except (IsADirectoryError, NotADirectoryError, FileExistsError) as exc:
                raise UploadError(ErrorCategory.PERMANENT, f"cannot write {target}: {exc}") from exc
            except OSError as exc:
                raise UploadError(ErrorCategory.TRANSIENT, f"cannot write {target}: {exc}") from exc
        return UploadResult(path=str(target), bytes=size, sha256=sha256)

    def close(self) -> None:
        pass

    def _check_inside_root(self, directory: Path, relative_path: str) -> None:
        if not directory.resolve().is_relative_to(self.root.resolve()):
            raise UploadError(
                ErrorCategory.PERMANENT,
                f"refused destination path {relative_path!r}: leaves {self.root} via a link",
            )


def _copy_atomically(source: BinaryIO, target: Path) -> tuple[int, str]:
    fd, temp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    digest = hashlib.sha256()
    size = 0
    try:
        with os.fdopen(fd, "wb") as out:
            while chunk := source.read(MIB):
                digest.update(chunk)
                out.write(chunk)
                size += len(chunk)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp_name, target)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise
    return size, digest.hexdigest()


# -- choosing a store -------------------------------------------------------------------------


def make_store(
    destination_uri: str,
    credential: Any,
    timeout_s: float,
    max_concurrency: int,
    *,
    chunk_mb: float = 4,
    ca_bundle: str | None = None,
    proxies: Mapping[str, str] | None = None,
    on_auth_error: Callable[[], object] | None = None,
    path_style_hosts: frozenset[str] = frozenset(),
) -> Store:
    """`FileStore` for `file:///<dir>`, `OneLakeUploader` for DFS URIs (see `parse_abfss`).

    `credential` is the process's shared azure-identity credential (any credential the DataLake
    SDK accepts); `on_auth_error` is called after a 401, before the client is rebuilt.
    """
    parts = urlsplit(destination_uri)
    if parts.scheme.lower() == "file":
        if parts.netloc not in ("", "localhost") or not parts.path.startswith("/"):
            raise ValueError(f"expected file:///<absolute dir>, got {destination_uri!r}")
        return FileStore(unquote(parts.path))
    account_url, filesystem, base_path = parse_abfss(destination_uri, path_style_hosts)

    def factory() -> DataLakeServiceClient:
        return build_service_client(
            account_url,
            credential,
            timeout_s=timeout_s,
            pool_size=max_concurrency,
            ca_bundle=ca_bundle,
            proxies=proxies,
        )

    return OneLakeUploader(
        factory,
        filesystem,
        base_path,
        timeout_s,
        chunk_mb=chunk_mb,
        max_concurrency=max_concurrency,
        on_auth_error=on_auth_error,
    )
