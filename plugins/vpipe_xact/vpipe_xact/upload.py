"""`xact-upload` (xact.md §11): the core upload worker over XACT's messages, into
`{ONELAKE_XACT_PATH}/{blob_path}` (default `ONELAKE_BASE_PATH/xact`)."""

from __future__ import annotations

from vpipe_core.context import WorkerContext
from vpipe_core.transfer.upload_worker import UploadWorker, build_upload_worker
from vpipe_xact.settings import XactSettings
from vpipe_xact.transfer import TRANSFER


def build(ctx: WorkerContext) -> UploadWorker:
    return build_upload_worker(ctx, TRANSFER, ctx.settings_for(XactSettings))
