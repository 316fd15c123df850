"""How the Delta worker process reaches a table's storage (runtime.md §7, §8).

OneLake / ADLS tables (`abfss://…`) are written with a bearer token from the process's shared
Azure credential (`vpipe_core.azure_auth.shared_credential`), passed to delta-rs in the storage
options under `bearer_token` (object_store's `AzureConfigKey::Token`; aliases
`azure_storage_token`, `token`). Tokens are renewed ahead of expiry: a Delta call may run for
up to `DELTA_WRITE_TIMEOUT_SECONDS`, so a token is renewed once less than that plus five
minutes of its lifetime is left — every call starts with a token that outlives it by at least
five minutes. The Delta process reopens its table when the options change.

The CA bundle (`CA_BUNDLE`) is exported to the worker process as `SSL_CERT_FILE`, which the
TLS stack of delta-rs reads for its trust roots.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

from vpipe_core.delta.errors import DeltaWriteError
from vpipe_core.delta.sink import StorageOptions
from vpipe_core.outcome import Category

STORAGE_SCOPE = "https://storage.azure.com/.default"
TOKEN_KEY = "bearer_token"
RENEW_BEFORE_EXPIRY_S = 300.0
AZURE_SCHEMES = frozenset({"abfs", "abfss", "az", "adl", "azure"})
AZURE_HOST_SUFFIXES = (".dfs.core.windows.net", ".blob.core.windows.net", ".fabric.microsoft.com")

log = logging.getLogger("vpipe.delta")


class TokenSource(Protocol):
    def get_token(self, *scopes: str, **kwargs: Any) -> Any:
        """An object with `.token` (str) and `.expires_on` (epoch seconds)."""


class BearerTokenOptions:
    """Storage options for `DeltaSink`: `{**base, "bearer_token": <token>}`, renewed when less
    than `renew_margin_s` of the token's lifetime is left. Thread-safe.

    A failing token request raises `DeltaWriteError` (category `auth`): the batch is retried
    in place like any other storage failure.
    """

    def __init__(
        self,
        credential: TokenSource,
        renew_margin_s: float,
        base: Mapping[str, str] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._credential = credential
        self._margin_s = max(renew_margin_s, RENEW_BEFORE_EXPIRY_S)
        self._base = dict(base or {})
        self._clock = clock
        self._lock = threading.Lock()
        self._token: str | None = None
        self._expires_on = 0.0

    def __call__(self) -> dict[str, str]:
        with self._lock:
            if self._token is None or self._expires_on - self._clock() < self._margin_s:
                self._renew()
            assert self._token is not None
            return {**self._base, TOKEN_KEY: self._token}

    def _renew(self) -> None:
        try:
            token = self._credential.get_token(STORAGE_SCOPE)
        except Exception as exc:
            raise DeltaWriteError(
                Category.AUTH, f"Azure token for Delta storage: {type(exc).__name__}: {exc}"
            ) from exc
        self._token, self._expires_on = str(token.token), float(token.expires_on)
        log.info(
            "delta storage token renewed",
            extra={"expires_in_s": round(self._expires_on - self._clock())},
        )


def is_azure_uri(uri: str) -> bool:
    parts = urlsplit(uri)
    if parts.scheme.lower() in AZURE_SCHEMES:
        return True
    host = (parts.hostname or "").lower()
    return parts.scheme.lower() == "https" and host.endswith(AZURE_HOST_SUFFIXES)


def storage_options(
    uri: str, env: Mapping[str, str], write_timeout_s: float, credential: TokenSource | None = None
) -> StorageOptions:
    """None for local and other tables; a renewing bearer token for Azure ones (the shared
    credential unless one is given; ConfigError when its settings are incomplete)."""
    if not is_azure_uri(uri):
        return None
    if credential is None:
        from vpipe_core.azure_auth import shared_credential

        credential = shared_credential(env)
    return BearerTokenOptions(credential, renew_margin_s=RENEW_BEFORE_EXPIRY_S + write_timeout_s)


def process_environment(ca_bundle: Path | str | None) -> dict[str, str]:
    """Variables exported to the Delta worker process."""
    return {"SSL_CERT_FILE": str(ca_bundle)} if ca_bundle else {}
