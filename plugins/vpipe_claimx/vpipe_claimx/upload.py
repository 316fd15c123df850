"""`claimx-uploader` (claimx.md §10.3): the core upload worker over ClaimX's messages, into
`{ONELAKE_CLAIMX_PATH}/{blob_path}` (default `ONELAKE_BASE_PATH/claimx`)."""

from __future__ import annotations

from vpipe_claimx.download import TRANSFER
from vpipe_claimx.settings import ClaimxSettings
from vpipe_core.config.loader import ConfigError
from vpipe_core.context import WorkerContext
from vpipe_core.transfer.settings import TransferSettings
from vpipe_core.transfer.upload_worker import UploadWorker, build_upload_worker


def destination(claimx: ClaimxSettings, transfer: TransferSettings) -> str:
    if claimx.onelake_claimx_path:
        return claimx.onelake_claimx_path
    if transfer.onelake_base_path:
        return f"{transfer.onelake_base_path.rstrip('/')}/claimx"
    raise ConfigError(
        [
            "ONELAKE_CLAIMX_PATH or ONELAKE_BASE_PATH: required by claimx-uploader, expected "
            "abfss://<workspace>@onelake.dfs.fabric.microsoft.com/<lakehouse>.Lakehouse"
            "/Files/<dir> or file:///<dir>"
        ]
    )


def build(ctx: WorkerContext) -> UploadWorker:
    claimx = ctx.settings_for(ClaimxSettings)
    target = destination(claimx, ctx.settings_for(TransferSettings))
    return build_upload_worker(
        ctx, TRANSFER, destination=target, concurrency=claimx.upload_concurrency
    )
