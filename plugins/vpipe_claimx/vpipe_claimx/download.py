"""`claimx-downloader` (claimx.md §10.1): the core download worker over ClaimX's messages (§6).

ClaimX links can be renewed, unlike XACT's: a link that has expired (file service:
`systemDate + expires`, epoch ms; S3: `X-Amz-Date + X-Amz-Expires`; 60 s margin) or that the
file service or S3 answers with 401/403 is replaced by the media's current `fullDownloadLink`
from E2 (`mediaIds=<media_id>`), at most `CLAIMX_URL_MAX_REFRESHES` times per attempt. A
401/403 again after a refresh is permanent; media gone from E2 (or E2 404) is permanent with
`url_refresh_attempted=true`; an E2 transient error is retried through the tiers. Downloads
never carry the ClaimX `Authorization` header: the core downloader only sends its own headers.
"""

from __future__ import annotations

from vpipe_claimx.api import ClaimxApi
from vpipe_claimx.links import MediaLinkRefresher, link_expiry
from vpipe_claimx.settings import ClaimxSettings
from vpipe_claimx.transfer import TRANSFER
from vpipe_core.context import WorkerContext
from vpipe_core.transfer.domain import TransferTask
from vpipe_core.transfer.download_worker import DownloadWorker, build_download_worker
from vpipe_core.transfer.netconf import ca_bundle


def build(ctx: WorkerContext) -> DownloadWorker:
    claimx = ctx.settings_for(ClaimxSettings)
    api = ClaimxApi.from_settings(claimx, ca_bundle(ctx.settings.ca_bundle, ctx.env), env=ctx.env)

    def refresher(task: TransferTask) -> MediaLinkRefresher:
        return MediaLinkRefresher(api, str(task.message["project_id"]), task.media_id)

    worker = build_download_worker(
        ctx,
        TRANSFER,
        claimx,
        expiry=link_expiry,
        refresher=refresher,
        max_refreshes=claimx.url_max_refreshes,
    )
    worker.add_closer(api.close)
    return worker
