"""Delta table maintenance: health, compaction, checkpoints and vacuum of the tables every domain
declares (`vpipe.tables` entry points), for `vpipe tables` and the `<domain>-table-maintenance`
workers. The Delta work itself runs in the Delta worker process (`vpipe_core.delta.maintenance`).
"""

from vpipe_core.tables.declared import MaintainedTable, Target, declared_tables, targets
from vpipe_core.tables.settings import TableSettings

__all__ = ["MaintainedTable", "TableSettings", "Target", "declared_tables", "targets"]
