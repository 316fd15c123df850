"""The store a destination URI names: a local directory or OneLake / ADLS Gen2."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from vpipe_core.storage.dfs_client import build_service_client
from vpipe_core.storage.local import FileStore
from vpipe_core.storage.onelake import OneLakeUploader
from vpipe_core.storage.paths import parse_abfss
from vpipe_core.storage.store import Store

if TYPE_CHECKING:
    from azure.storage.filedatalake import DataLakeServiceClient


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
    account_url, filesystem, base_path = parse_abfss(destination_uri)

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
