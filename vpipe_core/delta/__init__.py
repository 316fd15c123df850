"""Delta Lake batch sinks: declared tables, exactly-once appends and ordered merges.

Importing this package does not import deltalake; only the Delta worker process does.
"""

from vpipe_core.delta.errors import DeltaWriteError, DeltaWriteTimeout
from vpipe_core.delta.process import DeltaProcess
from vpipe_core.delta.schema import Column, ColumnType, TableSpec, arrow_schema
from vpipe_core.delta.sink import DeltaSink, WriteStatus

__all__ = [
    "Column",
    "ColumnType",
    "DeltaProcess",
    "DeltaSink",
    "DeltaWriteError",
    "DeltaWriteTimeout",
    "TableSpec",
    "WriteStatus",
    "arrow_schema",
]
