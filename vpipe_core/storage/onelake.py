"""Upload files to OneLake (ADLS Gen2, DFS API): chunks into a part file, renamed into place;
promote a staged file by the same rename (the contract: `vpipe_core.storage.store`).

Each SDK request is retried by the client's own policy (`vpipe_core.storage.dfs_client`). The
uploader itself repeats a request only after a 401, once, with a rebuilt client (`on_auth_error`
may invalidate the cached token first).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import threading
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, BinaryIO, TypeVar

from vpipe_core.storage.dfs_client import FILESYSTEM_MISSING_CODES, classify_error
from vpipe_core.storage.paths import safe_relative_path
from vpipe_core.storage.store import MIB, ErrorCategory, UploadError, UploadResult

if TYPE_CHECKING:
    from azure.storage.filedatalake import DataLakeServiceClient

MAX_CHUNK_MB = 100  # the DFS append limit we rely on (newer API versions allow more)
_SOURCE_MISSING = {"SourcePathNotFound", "PathNotFound"}
_PARENT_MISSING = "RenameDestinationParentPathNotFound"  # HNS accounts rename into a dir only
T = TypeVar("T")


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
        in_place: bool = False,
    ) -> UploadResult:
        path = self.destination(relative_path)
        with open(local_path, "rb") as source, self._slots:

            def attempt(client: DataLakeServiceClient) -> UploadResult:
                source.seek(0)
                return self._upload_once(client, source, path, content_type, in_place)

            return self._authorized(attempt)

    def promote(self, staged_path: str, relative_path: str) -> str:
        """Rename the staged file onto its destination (one request; the parent directory is
        created first only when the service says it is missing)."""
        staged, path = self.destination(staged_path), self.destination(relative_path)
        with self._slots:
            self._authorized(lambda client: self._promote_once(client, staged, path))
        return path

    def exists(self, relative_path: str) -> bool:
        path = self.destination(relative_path)
        with self._slots:
            return self._authorized(lambda client: self._exists_once(client, path))

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
        self,
        client: DataLakeServiceClient,
        source: BinaryIO,
        path: str,
        content_type: str | None,
        in_place: bool,
    ) -> UploadResult:
        """Write a part file of this attempt's own beside `path`, then rename it onto `path`:
        a reader never sees a partial file, and two attempts at the same file (a redelivered
        task while the first still runs, after a rebalance) never interleave their bytes.
        `in_place` writes `path` itself (one request fewer: the SDK's rename is its dearest)."""
        part = path if in_place else _part_path(path)
        file_client = client.get_file_client(self.filesystem, part)
        self._call("create", part, file_client.create_file)
        try:
            result = self._write(file_client, source, part, content_type)
            if not in_place:
                self._rename(file_client, path)
        except BaseException:
            with contextlib.suppress(Exception):
                self._call("delete", part, file_client.delete_file)
            raise
        return UploadResult(path=path, bytes=result.bytes, sha256=result.sha256)

    def _promote_once(self, client: DataLakeServiceClient, staged: str, path: str) -> None:
        file_client = client.get_file_client(self.filesystem, staged)
        try:
            self._rename_staged(file_client, staged, path)
        except UploadError as err:
            if err.code != _PARENT_MISSING:
                raise
            parent = path.rpartition("/")[0]
            directory = client.get_directory_client(self.filesystem, parent)
            self._call("create", parent, directory.create_directory)
            self._rename_staged(file_client, staged, path)

    def _rename_staged(self, file_client: Any, staged: str, path: str) -> None:
        try:
            self._rename(file_client, path)
        except UploadError as err:
            if err.status == 404 and err.code in _SOURCE_MISSING:
                raise FileNotFoundError(f"nothing staged at {staged}") from err
            raise

    def _rename(self, file_client: Any, path: str) -> None:
        """Move the file of `file_client` onto `path` (same filesystem), replacing what is there."""
        self._call("rename", path, file_client.rename_file, f"{self.filesystem}/{path}")

    def _exists_once(self, client: DataLakeServiceClient, path: str) -> bool:
        file_client = client.get_file_client(self.filesystem, path)
        try:
            self._call("properties", path, file_client.get_file_properties)
        except UploadError as err:
            if err.status == 404 and err.code not in FILESYSTEM_MISSING_CODES:
                return False
            raise
        return True

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

    def _authorized(self, attempt: Callable[[DataLakeServiceClient], T]) -> T:
        """`attempt(client)`, once more with a rebuilt client after a 401."""
        client, generation = self._current_client()
        try:
            return attempt(client)
        except UploadError as err:
            if err.category is not ErrorCategory.AUTH:
                raise
        self._refresh_client(generation)
        client, _ = self._current_client()
        return attempt(client)

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
