"""The DataLake (DFS) client: how it is built, and how its failures map to `UploadError`.

Retries: each SDK request is retried by the SDK's own storage retry policy (configured in
`build_service_client`: 2 retries, a few seconds of back-off; 408 and 5xx, connection errors and
timeouts). What still fails is classified (`classify_error`) and raised as `UploadError`, and
the worker routes it (a transient one to the next retry tier).

Azure modules are imported inside the functions that use them, so importing this module costs
nothing for workers that never upload.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from vpipe_core.storage.store import ErrorCategory, UploadError

if TYPE_CHECKING:
    from azure.storage.filedatalake import DataLakeServiceClient


# 400s caused by a broken transfer or a concurrent writer: a fresh upload fixes them.
_TRANSIENT_400_CODES = {"InvalidFlushPosition", "Md5Mismatch", "AppendPositionConditionNotMet"}
# 409s that no retry fixes: a directory sits where the file should go.
_PERMANENT_409_CODES = {"PathConflict", "ResourceTypeMismatch"}
FILESYSTEM_MISSING_CODES = {"FilesystemNotFound", "ContainerNotFound"}


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
        if code in FILESYSTEM_MISSING_CODES or operation == "create":
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
