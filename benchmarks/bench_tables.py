"""A month of small commits on three tables, before and after table maintenance, in one run.

Each table gets `--commits` commits of `--rows` rows (3,000 of 20 by default: one commit every
~15 minutes for a month on one table, and the shape of a writer flushing small batches), each
with an application transaction like the writers', spread over 30 days of `event_date`:

- `xact_events`: appends, partitioned by `event_date`, z-ordered by `trace_id`;
- `xact_attachments`: the result processor's merge on `media_id`, partitioned by `event_date`,
  z-ordered by `media_id`;
- `claimx_projects`: an entity table, merged on `project_id`, unpartitioned.

The month is written with bare `write_deltalake` appends of new keys (what a month of merges
leaves too: one small file per commit). Then, before and after `Maintainer` runs (every
partition compacted, a checkpoint, then a vacuum as it runs a week later, i.e. with retention 0
forced here), it measures: live files, stored bytes, log files, the time to read the whole table,
a point query by key (DataFusion SQL through `deltalake.QueryBuilder`, which skips files by their
statistics), and one writer batch through the real `DeltaSink` (an append for events; a merge of
half updates, half new keys for the others). Times are medians of `--repeat` runs. Merge time
against table size: the merge batch is also timed on copies taken at 1/4, 1/2 and all of the
month, each as written and compacted.

    python -m benchmarks.bench_tables [--commits 3000] [--rows 20] [--repeat 3]
    nox -s bench -- tables
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
from deltalake import CommitProperties, DeltaTable, QueryBuilder, Transaction, write_deltalake

from vpipe_claimx.tables import CLAIMX_PROJECTS
from vpipe_core.delta import DeltaSink, TableSpec, arrow_schema
from vpipe_core.tables.declared import MaintainedTable, Target
from vpipe_core.tables.maintainer import Maintainer
from vpipe_core.tables.settings import TableSettings
from vpipe_xact.tables import XACT_ATTACHMENTS, XACT_EVENTS

DAYS = 30
FIRST_DAY = date(2026, 11, 1)
APP_ID = "bench-writer-0"
Row = dict[str, Any]


class Shape:
    """One table of the benchmark: its declaration, key, and how a row and a batch look."""

    def __init__(self, spec: TableSpec, key: str, z_order: tuple[str, ...], merges: bool) -> None:
        self.spec, self.key, self.z_order, self.merges = spec, key, z_order, merges

    def row(self, key: str, day: date, at: datetime) -> Row:
        row: Row = {self.key: key}
        if "event_date" in self.spec.column_names:
            row["event_date"] = day
        for column in ("downloaded_at", "last_enriched_at", "ingested_at"):
            if column in self.spec.column_names:
                row[column] = at
        return row

    def month_batch(self, commit: int, rows: int, commits: int) -> list[Row]:
        day = FIRST_DAY + timedelta(days=commit * DAYS // commits)
        at = datetime.now(UTC)
        return [self.row(f"k{commit}-{i}", day, at) for i in range(rows)]

    def writer_batch(self, rows: int, commits: int) -> list[Row]:
        """Half updates of last day's keys, half new keys (an append: all new)."""
        day = FIRST_DAY + timedelta(days=DAYS - 1)
        at = datetime.now(UTC) + timedelta(hours=1)
        old = [self.row(f"k{commits - 1}-{i}", day, at) for i in range(rows // 2)]
        new = [self.row(f"new{time.monotonic_ns()}-{i}", day, at) for i in range(rows - len(old))]
        return new if not self.merges else old + new


SHAPES = {
    "xact_events": Shape(XACT_EVENTS, "trace_id", ("trace_id",), merges=False),
    "xact_attachments": Shape(XACT_ATTACHMENTS, "media_id", ("media_id",), merges=True),
    "claimx_projects": Shape(CLAIMX_PROJECTS, "project_id", (), merges=True),
}


def write_month(path: Path, shape: Shape, commits: int, rows: int, copies: dict[int, Path]) -> None:
    schema = arrow_schema(shape.spec)
    DeltaTable.create(str(path), schema, partition_by=list(shape.spec.partition_by) or None)
    started = time.monotonic()
    for commit in range(commits):
        batch = pa.Table.from_pylist(shape.month_batch(commit, rows, commits), schema=schema)
        txn = CommitProperties(app_transactions=[Transaction(APP_ID, commit)])
        write_deltalake(str(path), batch, mode="append", commit_properties=txn)
        if commit + 1 in copies:
            shutil.copytree(path, copies[commit + 1])
        if (commit + 1) % 500 == 0:
            rate = (commit + 1) / (time.monotonic() - started)
            print(f"  {shape.spec.name}: {commit + 1}/{commits} commits ({rate:.0f}/s)", flush=True)


def median_s(work: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def figures(path: Path, shape: Shape, rows: int, commits: int, repeat: int) -> dict[str, float]:
    table = DeltaTable(str(path))
    key = f"k{commits // 2}-{rows // 2}"

    def point_query() -> object:
        query = QueryBuilder().register("t", DeltaTable(str(path)))
        return query.execute(f"SELECT * FROM t WHERE {shape.key} = '{key}'").read_all()

    with DeltaSink(str(path), shape.spec) as sink:
        operation = "merge" if shape.merges else "append"
        version = [sink.committed_version(APP_ID) or 0]

        def writer_batch() -> object:
            version[0] += 1
            return sink.write(operation, shape.writer_batch(rows, commits), {APP_ID: version[0]})

        writer_batch()  # the Delta process started and the table opened: not what is measured
        batch_s = median_s(writer_batch, repeat)
    stored = [f for f in path.rglob("*.parquet") if "_delta_log" not in f.parts]
    return {
        "files": len(table.file_uris()),
        "stored MiB": sum(f.stat().st_size for f in stored) / 2**20,
        "log files": len(list((path / "_delta_log").glob("*.json"))),
        "read all s": median_s(lambda: DeltaTable(str(path)).to_pyarrow_table(), repeat),
        "point query s": median_s(point_query, repeat),
        f"{'merge' if shape.merges else 'append'} batch s": batch_s,
    }


def maintain(maintainer: Maintainer, path: Path, shape: Shape) -> dict[str, float]:
    target = Target("bench", MaintainedTable(shape.spec, "BENCH", shape.z_order), str(path))
    started = time.monotonic()
    health = maintainer.health(target)
    assert health is not None
    partitions = [partition for partition, _ in health.small_file_partitions]
    compacted = maintainer.compact(target, partitions)
    compact_s = time.monotonic() - started
    maintainer.checkpoint(target)
    maintainer.vacuum(target, dry_run=False, retention_hours=0, force=True)  # "a week later"
    return {
        "compact s": compact_s,
        "maintenance s": time.monotonic() - started,
        "files rewritten": compacted["files_removed"],
    }


def report(name: str, before: dict[str, float], after: dict[str, float]) -> None:
    print(f"\n{name}")
    print(f"  {'':18} {'before':>10} {'after':>10} {'after/before':>13}")
    for measure, value in before.items():
        ratio = after[measure] / value if value else float("nan")
        print(f"  {measure:18} {value:10.3f} {after[measure]:10.3f} {ratio:13.3f}")


def merge_scaling(
    maintainer: Maintainer, copies: dict[int, Path], shape: Shape, rows: int, repeat: int
) -> None:
    print(f"\n{shape.spec.name}: merge batch time against table size")
    print(f"  {'commits':>8} {'files':>6} {'merge s':>9} {'compacted files':>16} {'merge s':>9}")
    for commits, path in sorted(copies.items()):
        written = figures(path, shape, rows, commits, repeat)
        maintain(maintainer, path, shape)
        compacted = figures(path, shape, rows, commits, repeat)
        print(
            f"  {commits:8} {written['files']:6.0f} {written['merge batch s']:9.3f} "
            f"{compacted['files']:16.0f} {compacted['merge batch s']:9.3f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--commits", type=int, default=3000)
    parser.add_argument("--rows", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--tables", nargs="*", default=list(SHAPES), choices=list(SHAPES))
    args = parser.parse_args()
    maintainer = Maintainer(TableSettings(), {})
    try:
        with tempfile.TemporaryDirectory(prefix="bench-tables-") as root:
            for name in args.tables:
                shape, path = SHAPES[name], Path(root) / name
                copies = {}
                if shape.merges:
                    copies = {
                        n: Path(root) / f"{name}-at-{n}"
                        for n in (args.commits // 4, args.commits // 2)
                    }
                print(f"writing a month: {name}, {args.commits} commits of {args.rows} rows")
                write_month(path, shape, args.commits, args.rows, copies)
                if shape.merges:
                    copies[args.commits] = Path(root) / f"{name}-at-{args.commits}"
                    shutil.copytree(path, copies[args.commits])
                before = figures(path, shape, args.rows, args.commits, args.repeat)
                done = maintain(maintainer, path, shape)
                after = figures(path, shape, args.rows, args.commits, args.repeat)
                report(name, before, after)
                print("  maintenance: " + ", ".join(f"{k} {v:.1f}" for k, v in done.items()))
                if shape.merges:
                    merge_scaling(maintainer, copies, shape, args.rows, args.repeat)
    finally:
        maintainer.close()


if __name__ == "__main__":
    main()
