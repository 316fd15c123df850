"""Where a domain's upload worker writes: `ONELAKE_<DOMAIN>_PATH`, else
`ONELAKE_BASE_PATH/<domain>`; the files keep their `blob_path` below it."""

from __future__ import annotations

from vpipe_core.config.loader import ConfigError
from vpipe_core.transfer.settings import TransferSettings

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
