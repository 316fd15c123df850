"""`xact-result-processor` (xact.md §12): `xact.downloads.results` → attachment tables.

`completed` results are merged into `xact_attachments` on `media_id`; `failed_permanent` and
`failed_exhausted` into `xact_attachments_failed`. Without `XACT_DELTA_FAILED_TABLE` failures are
logged at WARNING and counted (`vpipe_xact_failures_unrecorded_total`), never silently skipped.
Batches of 500 results or 5 s; both tables share one Delta worker process; exactly once per
table and partition, attachments first (crash ordering: `vpipe_core.delta.multi_table`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime

from prometheus_client import Counter

from vpipe_core.context import WorkerContext
from vpipe_core.delta.multi_table import MultiTableWriter, TableRow
from vpipe_core.delta.writers import TableTarget, WritesDisabled, table_writer
from vpipe_core.ops.metrics import REGISTRY
from vpipe_core.outcome import Dead
from vpipe_core.record import Record
from vpipe_xact.messages import InvalidMessage
from vpipe_xact.results import (
    DownloadResult,
    Row,
    attachment_row,
    coalesce,
    failed_row,
    parse_result,
    with_default_message,
)
from vpipe_xact.settings import XactSettings
from vpipe_xact.tables import XACT_ATTACHMENTS, XACT_ATTACHMENTS_FAILED

BATCH_SIZE = 500  # a 2000-row batch ran out of memory in a 512 MB unit (§12)
BATCH_MAX_WAIT_S = 5.0
ATTACHMENTS = XACT_ATTACHMENTS.name
FAILED = XACT_ATTACHMENTS_FAILED.name

log = logging.getLogger("vpipe.xact.result_processor")

unrecorded_failures = Counter(
    "vpipe_xact_failures_unrecorded_total",
    "Failure results not written to a table because XACT_DELTA_FAILED_TABLE is unset",
    ["status"],
    registry=REGISTRY,
)


class ResultRows:
    """One partition's result records → rows (`multi_table.RowsFor`).

    Failures of one media id within the batch are coalesced (later non-null values win); the
    last record's row carries the coalesced values, and the merge keeps the last row per key.
    """

    def __init__(self, record_failures: bool) -> None:
        self._record_failures = record_failures

    def __call__(self, records: Sequence[Record]) -> list[TableRow | Dead | None]:
        now = datetime.now(UTC)
        failures: dict[str, Row] = {}
        items: list[TableRow | Dead | None] = []
        for record in records:
            try:
                result = parse_result(record.value)
            except InvalidMessage as exc:
                items.append(Dead(f"invalid result message: {exc}"))
                continue
            items.append(self._row(result, now, failures))
        return items

    def _row(
        self, result: DownloadResult, now: datetime, failures: dict[str, Row]
    ) -> TableRow | None:
        if not result.failed:
            return TableRow(ATTACHMENTS, attachment_row(result, now))
        if not self._record_failures:
            _warn_unrecorded(result)
            return None
        row = failed_row(result, now)
        earlier = failures.get(result.media_id)
        if earlier is not None:
            row = coalesce(earlier, row)
        failures[result.media_id] = row
        return TableRow(FAILED, with_default_message(row))


def _warn_unrecorded(result: DownloadResult) -> None:
    unrecorded_failures.labels(str(result.status)).inc()
    log.warning(
        "failure result not recorded: XACT_DELTA_FAILED_TABLE is not set",
        extra={
            "trace_id": result.trace_id,
            "media_id": result.media_id,
            "status": str(result.status),
            "error_category": result.error_category,
            "error": result.error_message,
        },
    )


def build(ctx: WorkerContext) -> MultiTableWriter | WritesDisabled:
    settings = ctx.settings_for(XactSettings)
    failed_table = settings.delta_failed_table
    tables = [
        TableTarget(XACT_ATTACHMENTS, settings.delta_inventory_table, "XACT_DELTA_INVENTORY_TABLE")
    ]
    if failed_table:
        tables.append(TableTarget(XACT_ATTACHMENTS_FAILED, failed_table, "XACT_DELTA_FAILED_TABLE"))
    else:
        log.warning(
            "XACT_DELTA_FAILED_TABLE is not set: failure results are logged and counted only"
        )
    rows = ResultRows(record_failures=bool(failed_table))
    return table_writer(ctx, tables, rows, BATCH_SIZE, BATCH_MAX_WAIT_S)
