"""A table writer for the maintenance chaos test, as its own process: `python chaos_table_writer.py
<table uri> events|attachments <batches> <rows per batch> <result file>`.

Writes batch b with application transaction version b, exactly as the Delta writers do: a batch
that fails (a conflict with a concurrent compaction, say) is offered again with the same version
until it is committed or found committed. Writes the number of retries to the result file.
"""

from __future__ import annotations

import sys
from datetime import UTC, date, datetime, timedelta

from vpipe_core.delta import DeltaSink, DeltaWriteError, WriteStatus
from vpipe_xact.tables import XACT_ATTACHMENTS, XACT_EVENTS

APP_ID = "chaos-writer-0"
MAX_RETRIES = 500
DAYS = [date(2026, 11, 1) + timedelta(days=n) for n in range(3)]


def rows(kind: str, batch: int, size: int) -> list[dict[str, object]]:
    day = DAYS[batch % len(DAYS)]
    if kind == "events":
        return [{"trace_id": f"t{batch}-{i}", "event_date": day} for i in range(size)]
    now = datetime.now(UTC)
    return [
        {"media_id": f"m{batch}-{i}", "event_date": day, "downloaded_at": now} for i in range(size)
    ]


def main(uri: str, kind: str, batches: int, size: int, result: str) -> None:
    spec = XACT_EVENTS if kind == "events" else XACT_ATTACHMENTS
    operation = "append" if kind == "events" else "merge"
    retries = 0
    with DeltaSink(uri, spec, timeout_s=120) as sink:
        sink.ensure_table()
        for batch in range(batches):
            while True:
                try:
                    status = sink.write(operation, rows(kind, batch, size), {APP_ID: batch})
                except DeltaWriteError as exc:
                    retries += 1
                    if exc.category == "permanent" or retries > MAX_RETRIES:
                        raise
                    continue
                if status in (WriteStatus.WRITTEN, WriteStatus.SKIPPED):
                    break
    with open(result, "w") as out:
        out.write(str(retries))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5])
