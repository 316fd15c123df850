"""Where a domain's files go: `ONELAKE_<DOMAIN>_PATH`, else `ONELAKE_BASE_PATH/<domain>`; the
files keep their `blob_path` below it, and wait for their upload as hidden `*.vpipe-staged`
objects beside it.
Both transfer workers open that store (`destination_store`): the download worker stages into
it, the upload worker promotes within it."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from vpipe_core.config.loader import ConfigError
from vpipe_core.storage import Store, make_store
from vpipe_core.transfer.netconf import ProxyConfig, ca_bundle
from vpipe_core.transfer.settings import TransferSettings

if TYPE_CHECKING:
    from vpipe_core.context import WorkerContext
    from vpipe_core.domain.settings import DomainSettings

EXPECTED = (
    "abfss://<workspace>@onelake.dfs.fabric.microsoft.com/<lakehouse>.Lakehouse/Files/<dir> "
    "or file:///<dir>"
)


def upload_destination(
    domain: str, own_path: str | None, transfer: TransferSettings, worker: str
) -> str:
    """The domain's own path, else `<ONELAKE_BASE_PATH>/<domain>`; ConfigError without both."""
    if own_path:
        return own_path
    if transfer.onelake_base_path:
        return f"{transfer.onelake_base_path.rstrip('/')}/{domain}"
    variable = f"ONELAKE_{domain.upper()}_PATH"
    raise ConfigError(
        [f"{variable} or ONELAKE_BASE_PATH: required by {worker}, expected {EXPECTED}"]
    )


def destination_store(
    ctx: WorkerContext, domain: str, settings: DomainSettings, concurrency: int
) -> Store:
    """The domain's destination store (`abfss://…`, a DFS URL or `file:///dir`) with the shared
    Azure credential, CA bundle and proxy, for `concurrency` requests at once."""
    transfer = ctx.settings_for(TransferSettings)
    destination = upload_destination(domain, settings.onelake_path, transfer, ctx.spec.name)
    credential = None
    on_auth_error: Callable[[], object] | None = None
    if not destination.startswith("file://"):
        from vpipe_core.azure_auth import shared_credential

        credential = shared_credential(ctx.env)  # one credential per process (runtime.md §8)
        on_auth_error = credential.invalidate
    try:
        return make_store(
            destination,
            credential,
            transfer.onelake_timeout_s,
            concurrency,
            ca_bundle=ca_bundle(ctx.settings.ca_bundle, ctx.env),
            proxies=ProxyConfig.from_env(ctx.env).requests_proxies(_account_url(destination)),
            on_auth_error=on_auth_error,
            path_style_hosts=frozenset(transfer.onelake_path_style_hosts),
        )
    except ValueError as exc:  # exit 2 naming the setting, not a traceback systemd restarts
        where = f"OneLake destination of {ctx.spec.name} (ONELAKE_BASE_PATH or its domain path)"
        raise ConfigError([f"{where}: {exc}"]) from exc


def _account_url(destination: str) -> str:
    """The URL whose host the DataLake client talks to (`abfss://fs@host/…` → `https://host`)."""
    if destination.startswith("abfss://"):
        host = destination.split("@", 1)[-1].split("/", 1)[0]
        return f"https://{host}"
    return destination
