"""A batch sink into one Delta table, exactly once per (application id, version).

Each write commits the batch together with Delta application transactions
(`app_id` = `<worker>-<topic>-<partition>`, `version` = the batch's last Kafka offset in that
partition; one commit may carry several). A batch whose versions are not above the recorded
ones was already committed (the process died between the Delta commit and the Kafka commit) and
is skipped. All deltalake work runs in the worker process
(`DeltaProcess`), bounded by `timeout_s`.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

from vpipe_core.delta.convert import Row, prepare, to_ipc
from vpipe_core.delta.process import DeltaProcess
from vpipe_core.delta.schema import TableSpec

if TYPE_CHECKING:
    import pyarrow as pa

Wire = Literal["arrow", "rows"]
Operation = Literal["append", "merge"]
Transactions = Mapping[str, int]  # application id -> version
StorageOptions = Mapping[str, str] | Callable[[], Mapping[str, str]] | None
"""Fixed options, or a callable asked before every call (e.g. a renewed bearer token)."""
DEFAULT_TIMEOUT_S = 300.0

log = logging.getLogger("vpipe.delta")


class WriteStatus(enum.StrEnum):
    WRITTEN = "written"
    SKIPPED = "skipped"  # this (app_id, version) or a later one is already in the table
    EMPTY = "empty"  # no rows: nothing to commit


class DeltaSink:
    """Writes batches of rows (dicts keyed by declared column names) to one table.

    `process` lets several sinks of a worker share one worker process (the default gives the
    sink one of its own, with `environment` exported to it and stopped after `idle_s` without
    a call). `wire` chooses how rows cross to it: `arrow`
    converts and checks them here and sends Arrow IPC bytes, `rows` sends the dicts and
    converts in the child. `storage_options` may be a callable, asked before every call (a
    renewed bearer token).
    Errors: `DeltaWriteError` (`category` transient, auth or permanent, `rows` = offending
    indexes),
    `DeltaWriteTimeout` (transient; the worker process was killed, the next call starts another).
    """

    def __init__(
        self,
        table_uri: str,
        spec: TableSpec,
        storage_options: StorageOptions = None,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        *,
        process: DeltaProcess | None = None,
        wire: Wire = "arrow",
        environment: Mapping[str, str] | None = None,
        idle_s: float | None = None,
    ) -> None:
        self.table_uri = table_uri
        self.spec = spec
        self.timeout_s = timeout_s
        self.wire: Wire = wire
        self._options = storage_options
        self._owns_process = process is None
        self.process = process if process is not None else DeltaProcess(environment, idle_s)
        self._casts: dict[str, pa.DataType] = {}

    def ensure_table(self) -> dict[str, pa.DataType]:
        """Create the table from the declared schema if missing; add declared columns it lacks.

        Columns an existing table holds in another type (tables of earlier pipelines) are
        logged once, here, and every later write casts to the table's type. Returns them.
        """
        casts: dict[str, pa.DataType] = self._call("ensure", self.spec)
        for column, actual in casts.items():
            if self._casts.get(column) != actual:
                log.warning(
                    "table column has another type than declared: writes cast to it",
                    extra={
                        "table": self.spec.name,
                        "column": column,
                        "declared": self.spec.column_types()[column],
                        "table_type": str(actual),
                    },
                )
        self._casts = dict(casts)
        return casts

    def committed_version(self, app_id: str) -> int | None:
        """The last version committed under `app_id`, None if none (or no table yet)."""
        version: int | None = self._call("committed_version", app_id)
        return version

    def append(self, rows: Sequence[Row], app_id: str, version: int) -> WriteStatus:
        """Append rows in one commit carrying the application transaction."""
        return self.write("append", rows, {app_id: version})

    def merge(self, rows: Sequence[Row], app_id: str, version: int) -> WriteStatus:
        """Upsert on `merge_keys` (rules: `vpipe_core.delta.merge`); insert unmatched rows."""
        return self.write("merge", rows, {app_id: version})

    def write(
        self, operation: Operation, rows: Sequence[Row], transactions: Transactions
    ) -> WriteStatus:
        """One commit carrying several application transactions (e.g. one per partition of a
        batch). Transactions already recorded at or above their version are left out; when
        none is left the batch was committed already and is skipped.

        A merge that changes nothing makes no commit in delta-rs, so its versions are not
        recorded: offered again, it changes nothing again.
        """
        if operation == "merge" and not self.spec.merge_keys:
            raise ValueError(f"table {self.spec.name}: merge needs merge_keys")
        if not transactions or min(transactions.values()) < 0:
            raise ValueError(f"versions must be >= 0, got {dict(transactions)}")
        if not rows:
            return WriteStatus.EMPTY
        payload = self._payload(rows, for_merge=operation == "merge")
        return WriteStatus(self._call(operation, self.spec, payload, dict(transactions)))

    def close(self) -> None:
        if self._owns_process:
            self.process.close()

    def __enter__(self) -> DeltaSink:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _payload(self, rows: Sequence[Row], for_merge: bool) -> tuple[Wire, Any]:
        if self.wire == "rows":
            return ("rows", list(rows))
        return ("arrow", to_ipc(prepare(self.spec, rows, for_merge, self._casts)))

    def _call(self, operation: str, *args: Any) -> Any:
        options = self._options() if callable(self._options) else self._options
        payload = (self.table_uri, dict(options) if options else None, *args)
        return self.process.call(operation, payload, self.timeout_s)
