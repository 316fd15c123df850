"""`claimx-uploader` (claimx.md §10.3): the core upload worker over ClaimX's messages, into
`{ONELAKE_CLAIMX_PATH}/{blob_path}` (default `ONELAKE_BASE_PATH/claimx`)."""

from __future__ import annotations

from vpipe_claimx.settings import ClaimxSettings
from vpipe_claimx.transfer import TRANSFER
from vpipe_core.context import WorkerContext
from vpipe_core.transfer.upload_worker import UploadWorker, build_upload_worker


def build(ctx: WorkerContext) -> UploadWorker:
    return build_upload_worker(ctx, TRANSFER, ctx.settings_for(ClaimxSettings))
