"""`xact-download` (xact.md §10): the core download worker over XACT's messages (`transfer`).

XACT links are presigned S3 URLs that cannot be refreshed: one that expires before the next
retry tier is due is dead at once.
"""

from __future__ import annotations

from vpipe_core.context import WorkerContext
from vpipe_core.transfer.download_worker import DownloadWorker, build_download_worker
from vpipe_xact.settings import XactSettings
from vpipe_xact.transfer import TRANSFER


def build(ctx: WorkerContext) -> DownloadWorker:
    xact = ctx.settings_for(XactSettings)
    return build_download_worker(ctx, TRANSFER, xact)
