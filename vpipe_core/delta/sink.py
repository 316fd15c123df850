"""A batch sink into one Delta table, exactly once per (application id, version).

Each write commits the batch together with a Delta application transaction
(`app_id` = `<worker>-<topic>-<partition>`, `version` = the batch's last Kafka offset). A batch
whose version is not above the recorded one was already committed (the process died between the
Delta commit and the Kafka commit) and is skipped. All deltalake work runs in the worker process
(`DeltaProcess`), bounded by `timeout_s`.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from vpipe_core.delta.convert import Row, prepare, to_ipc
from vpipe_core.delta.process import DeltaProcess
from vpipe_core.delta.schema import TableSpec

Wire = Literal["arrow", "rows"]
DEFAULT_TIMEOUT_S = 300.0


class WriteStatus(enum.StrEnum):
    WRITTEN = "written"
    SKIPPED = "skipped"  # this (app_id, version) or a later one is already in the table
    EMPTY = "empty"  # no rows: nothing to commit


class DeltaSink:
    """Writes batches of rows (dicts keyed by declared column names) to one table.

    `process` lets several sinks of a worker share one worker process (the default starts one
    per sink). `wire` chooses how rows cross to it: `arrow` converts and checks them here and
    sends Arrow IPC bytes, `rows` sends the dicts and converts in the child.
    Errors: `DeltaWriteError` (`category` transient or permanent, `rows` = offending indexes),
    `DeltaWriteTimeout` (transient; the worker process was killed and replaced).
    """

    def __init__(
        self,
        table_uri: str,
        spec: TableSpec,
        storage_options: Mapping[str, str] | None = None,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        *,
        process: DeltaProcess | None = None,
        wire: Wire = "arrow",
    ) -> None:
        self.table_uri = table_uri
        self.spec = spec
        self.timeout_s = timeout_s
        self.wire: Wire = wire
        self._options = dict(storage_options) if storage_options else None
        self._owns_process = process is None
        self.process = process if process is not None else DeltaProcess()

    def ensure_table(self) -> None:
        """Create the table from the declared schema if missing; add declared columns it lacks."""
        self._call("ensure", self.spec)

    def committed_version(self, app_id: str) -> int | None:
        """The last version committed under `app_id`, None if none (or no table yet)."""
        version: int | None = self._call("committed_version", app_id)
        return version

    def append(self, rows: Sequence[Row], app_id: str, version: int) -> WriteStatus:
        """Append rows in one commit carrying the application transaction."""
        return self._write("append", rows, app_id, version)

    def merge(self, rows: Sequence[Row], app_id: str, version: int) -> WriteStatus:
        """Upsert on `merge_keys` (newest row per key within the batch; with `order_column`, a
        stored row is only replaced by a newer-or-equal one); insert unmatched rows."""
        if not self.spec.merge_keys:
            raise ValueError(f"table {self.spec.name}: merge needs merge_keys")
        return self._write("merge", rows, app_id, version)

    def close(self) -> None:
        if self._owns_process:
            self.process.close()

    def __enter__(self) -> DeltaSink:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _write(self, operation: str, rows: Sequence[Row], app_id: str, version: int) -> WriteStatus:
        if version < 0:
            raise ValueError(f"version must be >= 0, got {version}")
        if not rows:
            return WriteStatus.EMPTY
        payload = self._payload(rows, for_merge=operation == "merge")
        return WriteStatus(self._call(operation, self.spec, payload, app_id, version))

    def _payload(self, rows: Sequence[Row], for_merge: bool) -> tuple[Wire, Any]:
        if self.wire == "rows":
            return ("rows", list(rows))
        return ("arrow", to_ipc(prepare(self.spec, rows, for_merge)))

    def _call(self, operation: str, *args: Any) -> Any:
        return self.process.call(operation, (self.table_uri, self._options, *args), self.timeout_s)
