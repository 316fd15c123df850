"""`claimx-entity-writer` throughput against a bare deltalake merge of the same rows, same run.

Each contestant writes the same batches of `claimx.entities.rows` messages (built by the real row
builders from the API fixtures, ids varied: every batch half new projects, half updates of the
previous batch's) into seven fresh tables created from the same declarations:

- `bare`: in this process, per table: the message rows decoded, reduced to the last row per
  key, `pa.Table.from_pylist`, then `DeltaTable.merge(...).when_matched_update_all()
  .when_not_matched_insert_all()` — no application transaction, no process boundary, no
  partial-row rules, nothing checked;
- `writer`: the worker's handler (`MultiTableWriter` with `EntityMessageRows`): JSON messages
  parsed and checked, rows typed, coalesced with carried-column masks, one merge per table with
  the §9.1 rules and one application transaction per partition, in the Delta worker process.

A second comparison measures what exactly-once-per-event costs `claimx-delta-writer`: its
insert-only merge on (event_id, event_date) against a plain append of the same batches.
Contestants alternate (R rounds); figures are medians. Prints rows/s and the ratios.

    python -m benchmarks.bench_entity_writer [--batches 8] [--messages 200] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any

import deltalake
import orjson
import pyarrow as pa
from deltalake import DeltaTable

from vpipe_claimx.delta_writer import event_row
from vpipe_claimx.entity_writer import EntityMessageRows, parse_entities, writable_row
from vpipe_claimx.events import event_from_row
from vpipe_claimx.rows import (
    Stamp,
    entities_message,
    media_items,
    media_row,
    project_entities,
    task_entities,
    video_collab_row,
)
from vpipe_claimx.tables import CLAIMX_EVENTS, ENTITY_TABLES
from vpipe_core.delta import DeltaProcess, DeltaSink, arrow_schema
from vpipe_core.delta.multi_table import MultiTableWriter, Table
from vpipe_core.record import Record

TOPIC = "claimx.entities.rows"
PARTITIONS = 3
Batch = list[Record]


# -- the workload -------------------------------------------------------------------------------


def api_body(name: str) -> Any:
    path = resources.files("vpipe_claimx").joinpath(f"data/claimx_api/{name}.json")
    return json.loads(path.read_text())


def entity_message(number: int, batch_no: int) -> bytes:
    """Rows for all seven tables of project 6000000 + number, fetched in batch `batch_no`."""
    fetched = datetime(2026, 2, 3, tzinfo=UTC) + timedelta(minutes=batch_no)
    ingested = fetched.strftime("%Y-%m-%dT%H:%M:%S.%f") + "0Z"
    stamp = Stamp(f"event-{batch_no}-{number}", ingested)
    project, unique = str(6_000_000 + number), 10_000_000 + number
    rows = project_entities(api_body("export_project"), stamp, fetched)
    for index, item in enumerate(media_items(api_body("export_project_media"))[:2]):
        media = media_row(item, project, stamp, fetched)
        rows.media.append(media | {"media_id": str(unique * 10 + index)})
    rows.extend(
        task_entities(api_body("custom_task_assignment"), str(unique), project, stamp, fetched)
    )
    video = video_collab_row(api_body("data_video_collaboration")["data"][0], stamp, fetched)
    assert video is not None
    rows.video_collab.append(video | {"video_collaboration_id": unique})
    rows.projects[0]["project_id"] = project
    rows.projects[0]["status"] = f"status-{batch_no}"
    for row in rows.contacts + rows.tasks + rows.external_links:
        row["project_id"] = project
    rows.tasks[0]["assignment_id"] = unique
    rows.task_templates[0].update(task_id=unique, modified_date=f"2026-01-{1 + batch_no % 28:02d}")
    rows.external_links[0].update(link_id=unique, assignment_id=unique)
    task = {"event_id": stamp.event_id, "event_type": "PROJECT_CREATED", "project_id": project}
    return orjson.dumps(entities_message(task, rows))


def entity_batches(batches: int, messages: int) -> list[Batch]:
    """Batch b covers projects b*m/2 .. b*m/2 + m: half updates of batch b-1, half new."""
    result, offsets = [], [0] * PARTITIONS
    for batch_no in range(batches):
        first = batch_no * messages // 2
        batch = []
        for number in range(first, first + messages):
            partition = number % PARTITIONS
            value = entity_message(number, batch_no)
            batch.append(Record(TOPIC, partition, offsets[partition], None, value))
            offsets[partition] += 1
        result.append(batch)
    return result


def event_batches(batches: int, events: int) -> list[list[dict[str, Any]]]:
    now = datetime.now(UTC)
    base = datetime(2026, 2, 3, tzinfo=UTC)
    result = []
    for batch_no in range(batches):
        rows = []
        for i in range(events):
            at = base + timedelta(seconds=batch_no * events + i)
            source = {
                "eventType": "PROJECT_FILE_ADDED",
                "projectId": str(5_500_000 + i % 300),
                "mediaId": str(90_000_000 + batch_no * events + i),
                "IngestionTime": at.isoformat().replace("+00:00", "Z"),
            }
            rows.append(event_row(event_from_row(source), now))
        result.append(rows)
    return result


def rows_in(batch: Batch) -> int:
    return sum(sum(len(rows) for rows in parse_entities(r.value)[1].values()) for r in batch)


# -- the contestants ----------------------------------------------------------------------------


def fresh_tables(root: Path) -> dict[str, str]:
    uris = {}
    for key, spec in ENTITY_TABLES.items():
        uris[key] = str(root / spec.name)
        DeltaTable.create(uris[key], arrow_schema(spec))
    return uris


def bare_writer(root: Path) -> Callable[[Batch], None]:
    uris = fresh_tables(root)
    now = datetime.now(UTC)

    def write(batch: Batch) -> None:
        per_table: dict[str, dict[tuple[Any, ...], dict[str, Any]]] = {k: {} for k in uris}
        for record in batch:
            event_id, rows = parse_entities(record.value)
            for key, spec in ENTITY_TABLES.items():
                for row in rows[key]:
                    typed = writable_row(spec, row, event_id, now)
                    per_table[key][tuple(typed[k] for k in spec.merge_keys)] = typed
        for key, spec in ENTITY_TABLES.items():
            source = pa.Table.from_pylist(list(per_table[key].values()), arrow_schema(spec))
            predicate = " AND ".join(f"t.`{k}` = s.`{k}`" for k in spec.merge_keys)
            (
                DeltaTable(uris[key])
                .merge(source, predicate=predicate, source_alias="s", target_alias="t")
                .when_matched_update_all()
                .when_not_matched_insert_all()
                .execute()
            )

    return write


def vpipe_writer(root: Path, process: DeltaProcess) -> Callable[[Batch], None]:
    uris = fresh_tables(root)
    tables = [
        Table(spec.name, DeltaSink(uris[key], spec, process=process))
        for key, spec in ENTITY_TABLES.items()
    ]
    writer = MultiTableWriter(tables, "bench-entity-writer", EntityMessageRows(), 10_000, 10.0)

    def write(batch: Batch) -> None:
        outcomes = writer.handle_batch(batch)
        bad = [o for o in outcomes if type(o).__name__ != "Done"]
        if bad:
            raise RuntimeError(f"the writer did not write the batch: {bad[:1]}")

    return write


def run(write: Callable[[Batch], Any], batches: list[Any], rows: int) -> float:
    started = time.perf_counter()
    for batch in batches:
        write(batch)
    return rows / (time.perf_counter() - started)


def events_contestants(root: Path, round_no: int, process: DeltaProcess) -> dict[str, Any]:
    def sink(name: str) -> DeltaSink:
        uri = str(root / f"events-{name}-{round_no}")
        DeltaTable.create(uri, arrow_schema(CLAIMX_EVENTS), partition_by=["event_date"])
        return DeltaSink(uri, CLAIMX_EVENTS, process=process)

    append, merge = sink("append"), sink("merge")
    counter = iter(range(1_000_000))
    return {
        "append": lambda rows: append.append(rows, "bench", next(counter)),
        "insert-only merge": lambda rows: merge.merge(rows, "bench", next(counter)),
    }


# -- main ---------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=8)
    parser.add_argument("--messages", type=int, default=200, help="messages per batch")
    parser.add_argument("--events", type=int, default=1500, help="events per delta-writer batch")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    batches = entity_batches(args.batches, args.messages)
    rows = sum(rows_in(batch) for batch in batches)
    events = event_batches(args.batches, args.events)
    results: dict[str, list[float]] = {}
    process = DeltaProcess()
    with tempfile.TemporaryDirectory(prefix="bench-entity-") as tmp:
        root = Path(tmp)
        DeltaSink(str(root / "warmup"), CLAIMX_EVENTS, process=process).ensure_table()
        for round_no in range(args.repeat):
            contestants = {
                "bare": bare_writer(root / f"bare-{round_no}"),
                "writer": vpipe_writer(root / f"writer-{round_no}", process),
            }
            for name, write in contestants.items():
                results.setdefault(name, []).append(run(write, batches, rows))
            for name, write in events_contestants(root, round_no, process).items():
                figure = run(write, events, args.batches * args.events)
                results.setdefault(name, []).append(figure)
    process.close()
    report(results, args, rows)


def report(results: dict[str, list[float]], args: argparse.Namespace, rows: int) -> None:
    print(f"deltalake {deltalake.__version__}, pyarrow {pa.__version__}")
    print(
        f"entity writer: {args.batches} batches x {args.messages} messages "
        f"({rows / args.batches:,.0f} rows per batch, 7 tables), {args.repeat} rounds"
    )
    pairs = (("writer", "bare"), ("insert-only merge", "append"))
    for index, (name, baseline) in enumerate(pairs):
        if index == 1:
            print(f"delta writer: {args.batches} batches x {args.events} events (claimx_events)")
        base = statistics.median(results[baseline])
        for contestant in (baseline, name):
            median = statistics.median(results[contestant])
            rounds = ", ".join(f"{f:,.0f}" for f in results[contestant])
            print(f"  {contestant:<18} {median:>10,.0f} rows/s  (rounds: {rounds})")
        print(f"  ratio {name} / {baseline}: {statistics.median(results[name]) / base:.2f}")


if __name__ == "__main__":
    main()
