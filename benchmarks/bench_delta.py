"""Delta append throughput: `DeltaSink.append` (exactly-once, worker process) vs bare delta-rs.

Each contestant appends the same batches of 1500 XACT-like rows (27 columns, partitioned by
date) to a fresh table of its own, created beforehand from the same declared schema:

- `bare`: `pa.Table.from_pylist` + `write_deltalake(mode="append")` in this process — no
  application transaction, no process boundary, nothing checked;
- `sink-arrow`: `DeltaSink.append` with rows converted and checked here, sent as Arrow IPC;
- `sink-rows`: `DeltaSink.append` with rows sent as plain lists and converted in the child.

Both sinks commit with an application transaction and read the recorded version first.
Contestants run alternately (R rounds); the figure is the median rows/s. The wire costs of one
batch (encode here + decode in the child, timed in this process) are printed as well.

    python -m benchmarks.bench_delta [--batches N] [--rows 1500] [--repeat R]
"""

from __future__ import annotations

import argparse
import pickle
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import deltalake
import pyarrow as pa
from deltalake import DeltaTable, write_deltalake

from vpipe_core.delta import DeltaProcess, DeltaSink, arrow_schema
from vpipe_core.delta.convert import from_ipc, prepare, to_ipc
from vpipe_xact.tables import XACT_EVENTS

TARGET_RATIO = 0.6
SPEC = XACT_EVENTS  # the table the XACT delta writer writes
STRING_COLUMNS = tuple(c.name for c in SPEC.columns if c.type == "string")
Row = dict[str, Any]
Append = Callable[[list[Row], int], None]


def make_batch(batch_no: int, rows: int) -> list[Row]:
    base = datetime(2024, 5, 1, tzinfo=UTC) + timedelta(hours=batch_no)
    return [make_row(base + timedelta(seconds=i), f"{batch_no}-{i}") for i in range(rows)]


def make_row(at: datetime, ident: str) -> Row:
    row: Row = {name: f"{name}-{ident}" for name in STRING_COLUMNS}
    row["raw_json"] = '{"type":"x","data":{"note":"' + "n" * 200 + '"}}'
    row["note"] = None
    row.update(ingested_at=at, event_date=at.date(), created_at=at, created_date=at.date())
    return row


def bare_appender(uri: str) -> Append:
    schema = arrow_schema(SPEC)

    def append(rows: list[Row], _offset: int) -> None:
        table = pa.Table.from_pylist(rows, schema=schema)
        write_deltalake(uri, table, mode="append")

    return append


def sink_appender(sink: DeltaSink) -> Append:
    def append(rows: list[Row], offset: int) -> None:
        assert sink.append(rows, "bench-delta-writer-events-0", offset) == "written"

    return append


def run(append: Append, batches: list[list[Row]]) -> float:
    """Rows per second for appending every batch."""
    offset = 0
    started = time.perf_counter()
    for batch in batches:
        offset += len(batch)
        append(batch, offset - 1)
    return sum(len(batch) for batch in batches) / (time.perf_counter() - started)


def fresh_table(root: Path, name: str) -> str:
    uri = str(root / name)
    DeltaTable.create(uri, arrow_schema(SPEC), partition_by=list(SPEC.partition_by))
    return uri


def contestants(root: Path, round_no: int, process: DeltaProcess) -> dict[str, Append]:
    def sink(wire: str) -> Append:
        uri = fresh_table(root, f"{wire}-{round_no}")
        return sink_appender(DeltaSink(uri, SPEC, process=process, wire=wire))  # type: ignore[arg-type]

    return {
        "bare": bare_appender(fresh_table(root, f"bare-{round_no}")),
        "sink-arrow": sink("arrow"),
        "sink-rows": sink("rows"),
    }


def wire_costs(batch: list[Row], repeat: int = 20) -> dict[str, tuple[float, float, int]]:
    """Per batch: (encode ms here, decode ms in the child, bytes on the pipe)."""
    arrow = ("arrow", to_ipc(prepare(SPEC, batch, for_merge=False)))
    rows = ("rows", batch)
    return {
        "arrow": (
            _ms(lambda: pickle.dumps(("arrow", to_ipc(prepare(SPEC, batch, False)))), repeat),
            _ms(lambda: from_ipc(pickle.loads(pickle.dumps(arrow))[1]), repeat),
            len(pickle.dumps(arrow)),
        ),
        "rows": (
            _ms(lambda: pickle.dumps(rows), repeat),
            _ms(lambda: prepare(SPEC, pickle.loads(pickle.dumps(rows))[1], False), repeat),
            len(pickle.dumps(rows)),
        ),
    }


def _ms(work: Callable[[], object], repeat: int) -> float:
    started = time.perf_counter()
    for _ in range(repeat):
        work()
    return (time.perf_counter() - started) * 1000 / repeat


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=20)
    parser.add_argument("--rows", type=int, default=1500)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    batches = [make_batch(n, args.rows) for n in range(args.batches)]
    results: dict[str, list[float]] = {}
    process = DeltaProcess()
    with tempfile.TemporaryDirectory(prefix="bench-delta-") as tmp:
        DeltaSink(fresh_table(Path(tmp), "warmup"), SPEC, process=process).ensure_table()
        for round_no in range(args.repeat):
            for name, append in contestants(Path(tmp), round_no, process).items():
                results.setdefault(name, []).append(run(append, batches))
    process.close()
    report(results, wire_costs(batches[0]), args)


def report(
    results: dict[str, list[float]],
    wire: dict[str, tuple[float, float, int]],
    args: argparse.Namespace,
) -> None:
    print(f"deltalake {deltalake.__version__}, pyarrow {pa.__version__}")
    print(
        f"{args.batches} batches x {args.rows} rows, {len(SPEC.columns)} columns, "
        f"{args.repeat} rounds (median rows/s)"
    )
    bare = statistics.median(results["bare"])
    for name, figures in results.items():
        median = statistics.median(figures)
        print(
            f"  {name:<11} {median:>10,.0f} rows/s  ratio {median / bare:.2f}  "
            f"(rounds: {', '.join(f'{f:,.0f}' for f in figures)})"
        )
    for name, (encode, decode, size) in wire.items():
        print(
            f"  wire {name:<6} encode {encode:6.2f} ms  decode {decode:6.2f} ms  "
            f"{size / 1024:,.0f} KiB per batch"
        )
    best = max(statistics.median(results["sink-arrow"]), statistics.median(results["sink-rows"]))
    verdict = "meets" if best / bare >= TARGET_RATIO else "BELOW"
    print(f"best sink / bare = {best / bare:.2f} ({verdict} target {TARGET_RATIO})")


if __name__ == "__main__":
    main()
