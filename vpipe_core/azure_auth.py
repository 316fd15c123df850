"""The one Azure credential of a process, chosen by `AZURE_AUTH_METHOD` (runtime.md §8).

Kusto, OneLake, Delta and Event Hub OAUTHBEARER all take their tokens from `shared_credential()`,
so the method variable is honoured everywhere. Token calls have a deadline (CLI calls can hang);
`AzureCredential.invalidate()` drops cached tokens, for the one retry after a 401.
"""

from __future__ import annotations

import enum
import logging
import queue
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import attrs
from azure.core.credentials import AccessToken, AccessTokenInfo, TokenCredential

from vpipe_core.config.fields import setting
from vpipe_core.config.loader import ConfigError, load_settings

log = logging.getLogger("vpipe.azure_auth")

TOKEN_TIMEOUT_S = 30.0
T = TypeVar("T")


class AzureAuthMethod(enum.StrEnum):
    MANAGED_IDENTITY = "managed-identity"
    SERVICE_PRINCIPAL = "service-principal"
    CLI = "cli"
    DEFAULT = "default"


@attrs.frozen
class AzureAuthSettings:
    method: AzureAuthMethod = setting(
        "AZURE_AUTH_METHOD",
        AzureAuthMethod.DEFAULT,
        help="managed-identity, service-principal, cli or default (the default chain)",
    )
    tenant_id: str | None = setting("AZURE_TENANT_ID", None, help="service principal tenant")
    client_id: str | None = setting(
        "AZURE_CLIENT_ID", None, help="service principal or user-assigned identity client id"
    )
    client_secret: str | None = setting(
        "AZURE_CLIENT_SECRET", None, help="service principal secret", secret=True
    )
    client_certificate_path: Path | None = setting(
        "AZURE_CLIENT_CERTIFICATE_PATH", None, help="service principal certificate (PEM/PFX)"
    )


class TokenTimeout(TimeoutError):
    """A token request did not answer within its deadline."""


def setting_problems(settings: AzureAuthSettings) -> list[str]:
    """What the chosen method still needs; empty when the settings are usable."""
    if settings.method is not AzureAuthMethod.SERVICE_PRINCIPAL:
        return []
    problems = [
        f"{name}: required when AZURE_AUTH_METHOD=service-principal"
        for name, value in (
            ("AZURE_TENANT_ID", settings.tenant_id),
            ("AZURE_CLIENT_ID", settings.client_id),
        )
        if not value
    ]
    if not settings.client_secret and settings.client_certificate_path is None:
        problems.append(
            "AZURE_CLIENT_SECRET: required when AZURE_AUTH_METHOD=service-principal "
            "(or set AZURE_CLIENT_CERTIFICATE_PATH)"
        )
    return problems


def config_problems(env: Mapping[str, str], _deployment: bool) -> list[str]:
    """`setting_problems` under `env`, for every worker (`vpipe_core.config.startup`)."""
    try:
        return setting_problems(load_settings(AzureAuthSettings, env))
    except ConfigError:
        return []  # reported by the settings check


def identity_credential(settings: AzureAuthSettings) -> TokenCredential:
    """A new azure-identity credential for `settings.method`."""
    from azure import identity

    method = settings.method
    if method is AzureAuthMethod.MANAGED_IDENTITY:
        if settings.client_id:  # user-assigned identity
            return identity.ManagedIdentityCredential(client_id=settings.client_id)
        return identity.ManagedIdentityCredential()
    if method is AzureAuthMethod.SERVICE_PRINCIPAL:
        tenant, client = settings.tenant_id or "", settings.client_id or ""
        if settings.client_certificate_path is not None:
            return identity.CertificateCredential(
                tenant, client, certificate_path=str(settings.client_certificate_path)
            )
        return identity.ClientSecretCredential(tenant, client, settings.client_secret or "")
    if method is AzureAuthMethod.CLI:
        return identity.AzureCliCredential(process_timeout=int(TOKEN_TIMEOUT_S))
    return identity.DefaultAzureCredential(process_timeout=int(TOKEN_TIMEOUT_S))


class AzureCredential:
    """A `TokenCredential` shared by every Azure client of the process.

    `close()` is a no-op (clients that close their credential must not close the shared one);
    `shutdown()` really closes it. `invalidate()` replaces the underlying credential, dropping
    its cached tokens, so the next call fetches a fresh one.
    """

    def __init__(
        self,
        settings: AzureAuthSettings,
        factory: Callable[[AzureAuthSettings], TokenCredential] = identity_credential,
        timeout_s: float = TOKEN_TIMEOUT_S,
    ) -> None:
        self.settings = settings
        self._factory = factory
        self._timeout_s = timeout_s
        self._lock = threading.Lock()
        self._inner = factory(settings)

    def get_token(
        self,
        *scopes: str,
        claims: str | None = None,
        tenant_id: str | None = None,
        enable_cae: bool = False,
        **kwargs: Any,
    ) -> AccessToken:
        inner = self._current()
        return _with_deadline(
            lambda: inner.get_token(
                *scopes, claims=claims, tenant_id=tenant_id, enable_cae=enable_cae, **kwargs
            ),
            self._timeout_s,
            self.settings.method,
        )

    def get_token_info(self, *scopes: str, options: Any = None) -> AccessTokenInfo:
        token = self.get_token(*scopes)
        return AccessTokenInfo(token.token, token.expires_on)

    def invalidate(self) -> None:
        """Drop cached tokens: the next `get_token` asks the identity provider again."""
        log.info("azure credential invalidated", extra={"method": self.settings.method.value})
        with self._lock:
            stale, self._inner = self._inner, self._factory(self.settings)
        _close_quietly(stale)

    def close(self) -> None:
        """Shared: a client closing its credential leaves this one open."""

    def shutdown(self) -> None:
        with self._lock:
            _close_quietly(self._inner)

    def _current(self) -> TokenCredential:
        with self._lock:
            return self._inner


def _with_deadline(call: Callable[[], T], timeout_s: float, method: AzureAuthMethod) -> T:
    """`call()` in a daemon thread; TokenTimeout if it has not answered within `timeout_s`."""
    answers: queue.Queue[tuple[bool, Any]] = queue.Queue(maxsize=1)

    def run() -> None:
        try:
            answers.put((True, call()))
        except BaseException as exc:
            answers.put((False, exc))

    threading.Thread(target=run, name="azure-token", daemon=True).start()
    try:
        succeeded, value = answers.get(timeout=timeout_s)
    except queue.Empty:
        raise TokenTimeout(
            f"Azure token request (AZURE_AUTH_METHOD={method.value}) took more than {timeout_s:g}s"
        ) from None
    if not succeeded:
        raise value
    result: T = value
    return result


def _close_quietly(credential: TokenCredential) -> None:
    close = getattr(credential, "close", None)
    if callable(close):
        try:
            close()
        except Exception as exc:
            log.debug("closing an azure credential failed", extra={"error": str(exc)})


_shared: AzureCredential | None = None
_shared_lock = threading.Lock()


def load_auth_settings(env: Mapping[str, str]) -> AzureAuthSettings:
    """The auth settings from `env`; ConfigError lists every problem."""
    settings = load_settings(AzureAuthSettings, env)
    problems = setting_problems(settings)
    if problems:
        raise ConfigError(problems)
    return settings


def shared_credential(env: Mapping[str, str]) -> AzureCredential:
    """The process's one credential, built from `env` on first use; raises ConfigError."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = AzureCredential(load_auth_settings(env))
        return _shared
