"""Table maintenance inside the Delta worker process: health, compaction, checkpoints, vacuum.

Called through `ops.OPERATIONS` like the writes, so a long compaction holds the GIL of the child,
not of the worker's loop. Arguments and replies are plain data (they cross a pipe).

Every operation commits like a writer does: a conflict with a concurrent append or merge is
retried here on a fresh snapshot (`CONFLICT_ATTEMPTS`), and if it still conflicts it raises
(transient) and the next maintenance pass tries again. Compaction and checkpoints never touch
the application transactions (`txn` actions) the writers' exactly-once versions live in: they
are carried into every checkpoint and survive the log cleanup.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import pyarrow as pa
from deltalake import DeltaTable
from deltalake.exceptions import CommitFailedError
from deltalake.fs import DeltaStorageHandler

Options = Mapping[str, str] | None
Partition = dict[str, str]
CONFLICT_ATTEMPTS = 5
LAST_CHECKPOINT = "_delta_log/_last_checkpoint"
HISTORY_OPERATIONS = {"OPTIMIZE": "last_optimize_ms", "VACUUM END": "last_vacuum_ms"}
T = TypeVar("T")


def health(
    uri: str, options: Options, small_file_bytes: int, history_limit: int, retention_hours: int
) -> dict[str, Any] | None:
    """What `vpipe tables status` shows and the maintenance plan reads; None while the table
    does not exist (its writer creates it with its first batch)."""
    if not DeltaTable.is_deltatable(uri, storage_options=dict(options) if options else None):
        return None
    table = _open(uri, options)
    version = table.version()
    checkpoint = last_checkpoint_version(uri, options)
    return {
        "version": version,
        **_file_figures(table, small_file_bytes),
        "checkpoint_version": checkpoint,
        "commits_since_checkpoint": version - (checkpoint if checkpoint is not None else -1),
        "log_files": _log_file_count(uri, options),
        "vacuum_pending": len(_vacuum(table, retention_hours, dry_run=True, full=False)),
        "properties": dict(table.metadata().configuration),
        **_last_operations(table, history_limit),
    }


def compact(
    uri: str,
    options: Options,
    partitions: list[Partition],
    target_bytes: int,
    z_order: list[str],
    max_tasks: int,
) -> dict[str, int]:
    """Rewrite the small files of each partition (`{}`: an unpartitioned table) toward
    `target_bytes`, z-ordered by `z_order` when given. One commit per partition."""
    totals = {"partitions": 0, "files_removed": 0, "files_added": 0}
    for partition in partitions:
        filters = [(column, "=", value) for column, value in partition.items()] or None

        def run(table: DeltaTable, filters: Any = filters) -> dict[str, Any]:
            if z_order:
                return table.optimize.z_order(
                    z_order,
                    partition_filters=filters,
                    target_size=target_bytes,
                    max_concurrent_tasks=max_tasks,
                )
            return table.optimize.compact(
                partition_filters=filters, target_size=target_bytes, max_concurrent_tasks=max_tasks
            )

        result = _retrying_conflicts(uri, options, run)
        totals["partitions"] += 1
        totals["files_removed"] += int(result.get("numFilesRemoved", 0))
        totals["files_added"] += int(result.get("numFilesAdded", 0))
    return totals


def checkpoint(uri: str, options: Options, properties: Mapping[str, str]) -> dict[str, Any]:
    """Set the declared log properties where they differ, write a checkpoint of the current
    version, remove the log entries older than the log retention, and check that the checkpoint
    is the one `_last_checkpoint` names."""
    table = _open(uri, options)
    differing = {k: v for k, v in properties.items() if table.metadata().configuration.get(k) != v}
    if differing:
        _retrying_conflicts(uri, options, lambda t: t.alter.set_table_properties(differing))
        table = _open(uri, options)
    log_files_before = _log_file_count(uri, options)
    table.create_checkpoint()
    table.cleanup_metadata()
    written = last_checkpoint_version(uri, options)
    if written is None or written < table.version():
        raise RuntimeError(
            f"checkpoint of {uri} at version {table.version()} not found: "
            f"_last_checkpoint names {written}"
        )
    return {
        "version": written,
        "properties_set": sorted(differing),
        "log_files_before": log_files_before,
        "log_files_after": _log_file_count(uri, options),
    }


def vacuum(
    uri: str, options: Options, retention_hours: int, dry_run: bool, full: bool
) -> list[str]:
    """The files deleted (or, dry run, that would be): with `full`, also files no commit ever
    referenced (a writer killed mid-write) once older than the retention."""
    return _vacuum(_open(uri, options), retention_hours, dry_run, full)


def last_checkpoint_version(uri: str, options: Options) -> int | None:
    store = DeltaStorageHandler(uri, dict(options) if options else None)
    try:
        with store.open_input_file(LAST_CHECKPOINT) as stream:
            return int(json.loads(stream.read())["version"])
    except FileNotFoundError:
        return None


def _vacuum(table: DeltaTable, retention_hours: int, dry_run: bool, full: bool) -> list[str]:
    # The caller enforces the minimum retention (with a message naming the setting); the
    # table's own check would refuse a forced, shorter one with a less helpful error.
    return table.vacuum(
        retention_hours=retention_hours,
        dry_run=dry_run,
        enforce_retention_duration=False,
        full=full,
    )


def _file_figures(table: DeltaTable, small_file_bytes: int) -> dict[str, Any]:
    actions = pa.table(table.get_add_actions(flatten=True)).to_pydict()
    sizes: list[int] = actions.get("size_bytes", [])
    partition_columns = [name for name in actions if name.startswith("partition.")]
    small: dict[tuple[tuple[str, str], ...], int] = {}
    for index, size in enumerate(sizes):
        if size < small_file_bytes:
            key = tuple(
                (c.removeprefix("partition."), actions[c][index]) for c in partition_columns
            )
            small[key] = small.get(key, 0) + 1
    partitions = [
        {"partition": {column: _text(value) for column, value in key}, "small_files": count}
        for key, count in sorted(small.items(), key=lambda item: -item[1])
    ]
    return {
        "files": len(sizes),
        "bytes": sum(sizes),
        "small_files": sum(small.values()),
        "small_file_partitions": partitions,
    }


def _text(value: Any) -> str:
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


def _last_operations(table: DeltaTable, limit: int) -> dict[str, int | None]:
    found: dict[str, int | None] = dict.fromkeys(HISTORY_OPERATIONS.values())
    for entry in table.history(limit):
        key = HISTORY_OPERATIONS.get(str(entry.get("operation")))
        if key and found[key] is None:
            found[key] = int(entry["timestamp"])
    return found


def _log_file_count(uri: str, options: Options) -> int:
    from pyarrow.fs import FileSelector

    store = DeltaStorageHandler(uri, dict(options) if options else None)
    try:
        entries = store.get_file_info_selector(FileSelector("_delta_log"))
    except FileNotFoundError:
        return 0
    return sum(1 for entry in entries if entry.path.endswith(".json"))


def _retrying_conflicts(uri: str, options: Options, action: Callable[[DeltaTable], T]) -> T:
    for attempt in range(1, CONFLICT_ATTEMPTS + 1):
        try:
            return action(_open(uri, options))
        except CommitFailedError:
            if attempt == CONFLICT_ATTEMPTS:
                raise
    raise AssertionError("unreachable")


def _open(uri: str, options: Options) -> DeltaTable:
    return DeltaTable(uri, storage_options=dict(options) if options else None)
