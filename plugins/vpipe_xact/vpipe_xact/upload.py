"""`xact-upload` (xact.md §11): the core upload worker over XACT's messages, into
`{ONELAKE_XACT_PATH}/{blob_path}` (default `ONELAKE_BASE_PATH/xact`)."""

from __future__ import annotations

from vpipe_core.config.loader import ConfigError
from vpipe_core.context import WorkerContext
from vpipe_core.transfer.settings import TransferSettings
from vpipe_core.transfer.upload_worker import UploadWorker, build_upload_worker
from vpipe_xact.download import TRANSFER
from vpipe_xact.settings import XactSettings


def destination(xact: XactSettings, transfer: TransferSettings) -> str:
    if xact.onelake_xact_path:
        return xact.onelake_xact_path
    if transfer.onelake_base_path:
        return f"{transfer.onelake_base_path.rstrip('/')}/xact"
    raise ConfigError(
        [
            "ONELAKE_XACT_PATH or ONELAKE_BASE_PATH: required by xact-upload, expected "
            "abfss://<workspace>@onelake.dfs.fabric.microsoft.com/<lakehouse>.Lakehouse"
            "/Files/<dir> or file:///<dir>"
        ]
    )


def build(ctx: WorkerContext) -> UploadWorker:
    xact = ctx.settings_for(XactSettings)
    target = destination(xact, ctx.settings_for(TransferSettings))
    return build_upload_worker(
        ctx, TRANSFER, destination=target, concurrency=xact.upload_concurrency
    )
