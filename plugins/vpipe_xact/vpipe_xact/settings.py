"""XACT settings (runtime.md §7), registered under `vpipe.settings` as `xact`.

The variables both domains' pollers share (EVENT_SOURCE, EVENTHOUSE_CLUSTER_URL,
EVENTHOUSE_PROXY_URL, EVENTHUB_*, SAMPLE_EVENTS_PER_MINUTE) are declared once, by
`vpipe_core.eventsource.settings.EventSourceSettings`; the variables every domain has under its
own names (`XACT_EVENTHOUSE_*`, `XACT_DELTA_*_TABLE`, `XACT_DOWNLOAD_CONCURRENCY`,
`ONELAKE_XACT_PATH`, ...) by the base class `vpipe_core.domain.settings.DomainSettings`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

import attrs

from vpipe_core.config.fields import replaced_by, setting
from vpipe_core.domain.settings import DomainSettings


@attrs.frozen
class XactSettings(DomainSettings):
    ENV_PREFIX: ClassVar[str] = "XACT"
    # xact.md §10.1: where XACT exports attachments (ALLOWED_ATTACHMENT_DOMAINS replaces them).
    ATTACHMENT_HOSTS: ClassVar[tuple[str, ...]] = (
        "usw2-prod-xn-exportreceiver-publish.s3.us-west-2.amazonaws.com",
    )
    RETIRED_VARIABLES: ClassVar[Mapping[str, str]] = {
        "POLL_INTERVAL_SECONDS": replaced_by("XACT_EVENTHOUSE_POLL_INTERVAL_SECONDS"),
        "POLL_BATCH_SIZE": replaced_by("XACT_EVENTHOUSE_BATCH_SIZE"),
        "DELTA_EVENTS_TABLE_PATH": replaced_by("XACT_DELTA_EVENTS_TABLE"),
        "DELTA_INVENTORY_TABLE_PATH": replaced_by("XACT_DELTA_INVENTORY_TABLE"),
        "DELTA_FAILED_TABLE_PATH": replaced_by("XACT_DELTA_FAILED_TABLE"),
        "XACT_S3_*": "not used: downloads rely on presigned URLs",
    }

    poll_batch_size: int = setting(
        "*_EVENTHOUSE_BATCH_SIZE", 8000, min=1, max=100000, help="rows per query"
    )
