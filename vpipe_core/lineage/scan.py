"""Reading what the pipeline stored about one event: topics (within a window), Delta tables,
log files. Each reader yields `Hop`s; `timeline.py` decides what they mean."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import attrs
import orjson
from confluent_kafka import OFFSET_END, Consumer, TopicPartition

from vpipe_core.lineage.carry import parent_of
from vpipe_core.lineage.query import Query, record_fields
from vpipe_core.lineage.traceparent import span_id_of, trace_id_of
from vpipe_core.record import Record
from vpipe_core.retry import envelope as env

Progress = Callable[[str], None]


@attrs.frozen
class Hop:
    """One place the event was seen: a topic record, a table row or a log line."""

    kind: str  # "topic", "row" or "log"
    where: str  # topic[partition]@offset, table name, log file
    time_ms: int | None
    trace_id: str | None = None
    span_id: str | None = None
    worker: str | None = None
    detail: Mapping[str, Any] = attrs.field(factory=dict)

    def as_json(self) -> dict[str, Any]:
        return attrs.asdict(self)


def read_topics(
    client_config: dict[str, Any],
    wanted: Callable[[str], bool],
    since_ms: int,
    progress: Progress,
    timeout_s: float = 300.0,
) -> list[Record]:
    """Every record of the `wanted` topics written since `since_ms`, up to each partition's
    end now."""
    consumer = Consumer({**client_config, "group.id": "vpipe-trace", "enable.auto.commit": False})
    try:
        listed = consumer.list_topics(timeout=10).topics
        starts, ends = _bounds(consumer, sorted(t for t in listed if wanted(t)), since_ms)
        consumer.assign(starts)
        records: list[Record] = []
        remaining = {(tp.topic, tp.partition): ends[tp.topic, tp.partition] for tp in starts}
        remaining = {k: end for k, end in remaining.items() if end > 0}
        deadline = time.monotonic() + timeout_s
        while remaining and time.monotonic() < deadline:
            for message in consumer.consume(1000, 0.5):
                if message.error() is not None:
                    continue
                record = Record.from_message(message)
                records.append(record)
                where = (record.topic, record.partition)
                if record.offset + 1 >= remaining.get(where, 0):
                    remaining.pop(where, None)
            progress(f"topics: {len(records)} records read, {len(remaining)} partitions to go")
        return records
    finally:
        consumer.close()


def committed_offsets(client_config: dict[str, Any]) -> Callable[[str, str, int], int]:
    """Looks up (and remembers) a consumer group's committed offset of one partition."""
    known: dict[tuple[str, str, int], int] = {}

    def committed(group: str, topic: str, partition: int) -> int:
        if (group, topic, partition) not in known:
            consumer = Consumer({**client_config, "group.id": group})
            try:
                found = consumer.committed([TopicPartition(topic, partition)], timeout=10)
            finally:
                consumer.close()
            known[group, topic, partition] = found[0].offset if found else -1
        return known[group, topic, partition]

    return committed


def _bounds(
    consumer: Consumer, topics: Sequence[str], since_ms: int
) -> tuple[list[TopicPartition], dict[tuple[str, int], int]]:
    wanted: list[TopicPartition] = []
    for topic in topics:
        meta = consumer.list_topics(topic, timeout=10).topics.get(topic)
        if meta is None or meta.error is not None:
            continue
        wanted.extend(TopicPartition(topic, p, since_ms) for p in sorted(meta.partitions))
    starts = consumer.offsets_for_times(wanted, timeout=10) if wanted else []
    ends: dict[tuple[str, int], int] = {}
    kept: list[TopicPartition] = []
    for tp in starts:
        low, high = consumer.get_watermark_offsets(tp, timeout=10)
        ends[tp.topic, tp.partition] = high if tp.offset != OFFSET_END and tp.offset >= 0 else 0
        kept.append(TopicPartition(tp.topic, tp.partition, max(tp.offset, low)))
    return kept, ends


def matching_records(records: Iterable[Record], query: Query) -> list[Record]:
    """The records of the event, to a fixed point: a match can make earlier records match
    (a trace id found late, an event id first seen on a later record)."""
    pending, found = list(records), list[Record]()
    while True:
        matched = [record for record in pending if query.matches(record)]
        if not matched:
            return found
        found.extend(matched)
        taken = {id(record) for record in matched}
        pending = [record for record in pending if id(record) not in taken]


def topic_hop(record: Record) -> Hop:
    fields = record_fields(record)
    parent = parent_of(record)
    detail = {
        name: fields[name]
        for name in (
            "event_id",
            "trace_id",
            "media_id",
            "project_id",
            "status",
            "blob_path",
            env.ATTEMPT_HEADER,
            env.ERROR,
            env.CATEGORY,
            env.DEAD_REASON,
            env.ORIGIN_TOPIC,
            env.REPLAY_COUNT,
        )
        if fields.get(name) not in (None, "")
    }
    return Hop(
        "topic",
        record.position,
        record.timestamp_ms,
        trace_id_of(parent),
        span_id_of(parent),
        record.header(env.WORKER_ID),
        detail,
    )


def read_rows(
    tables: Sequence[tuple[str, str, Any]], query: Query, progress: Progress
) -> Iterator[Hop]:
    """Rows naming the event in each (table name, uri, storage options) table."""
    for name, uri, options in tables:
        progress(f"table {name}")
        try:
            rows = _candidate_rows(uri, options, query)
        except Exception as exc:  # a missing or unreadable table is part of the story
            yield Hop("row", name, None, detail={"error": f"not read: {exc}"})
            continue
        for row in rows:
            if query.matches_row(row):
                yield Hop("row", name, _row_time(row), detail=_short(row))


def _candidate_rows(uri: str, options: Any, query: Query) -> list[dict[str, Any]]:
    """The rows whose id columns hold one of the query's ids, selected by the table's query
    engine (it skips the files whose statistics rule them out); none when the table has no
    such column."""
    import pyarrow as pa
    from deltalake import DeltaTable, QueryBuilder

    table = DeltaTable(uri, storage_options=options)
    types = {field.name: str(field.type) for field in table.schema().fields}
    wanted = {c: v for c, v in query.row_keys().items() if c in types}
    if not wanted:
        return []
    where = " or ".join(
        f"{_column(c, types[c])} in ({', '.join(_literal(v) for v in sorted(values))})"
        for c, values in wanted.items()
    )
    found = QueryBuilder().register("t", table).execute(f"select * from t where {where}")
    return list(pa.RecordBatchReader.from_stream(found).read_all().to_pylist())


def _column(name: str, delta_type: str) -> str:
    quoted = '"' + name.replace('"', '""') + '"'
    return quoted if "string" in delta_type else f"cast({quoted} as varchar)"


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


# (domain) -> (its destination URI, a store answering `exists(blob_path)`), None: none set;
# raises on a bad destination setting
Landing = Callable[[str], tuple[str, Any] | None]


def read_files(
    hops: Iterable[Hop],
    domain_of: Callable[[Hop], str | None],
    landing: Landing,
    progress: Progress,
) -> Iterator[Hop]:
    """Where each `blob_path` named by a record or row of the event is in its domain's
    destination (OneLake or a directory): one hop per file, `exists` true once it landed."""
    seen: set[tuple[str, str]] = set()
    for hop in list(hops):
        blob_path, domain = hop.detail.get("blob_path"), domain_of(hop)
        if not blob_path or domain is None or (domain, str(blob_path)) in seen:
            continue
        seen.add((domain, str(blob_path)))
        progress(f"file {blob_path}")
        where = str(blob_path)
        detail: dict[str, Any] = {"blob_path": where}
        try:
            found = landing(domain)
            if found is None:
                continue
            destination, store = found
            where = f"{destination.rstrip('/')}/{blob_path}"
            detail["exists"] = bool(store.exists(str(blob_path)))
        except Exception as exc:  # a bad destination or unreachable storage is part of the story
            detail["error"] = f"not read: {exc}"
        yield Hop("file", where, None, detail=detail)


def read_logs(log_dir: Path, query: Query, progress: Progress) -> Iterator[Hop]:
    """JSON log lines about the event under `log_dir` (the human format is not parsed)."""
    for path in sorted(p for p in log_dir.rglob("*") if p.is_file()):
        progress(f"logs {path.name}")
        with path.open("rb") as lines:
            for raw in lines:
                try:
                    line = orjson.loads(raw)
                except orjson.JSONDecodeError:
                    continue
                if isinstance(line, dict) and query.matches_log(line):
                    yield Hop(
                        "log",
                        str(path),
                        None,
                        line.get("w3c_trace_id"),
                        worker=line.get("worker_id"),
                        detail={key: line.get(key) for key in ("ts", "level", "msg")},
                    )


def _row_time(row: Mapping[str, Any]) -> int | None:
    for column in ("created_at", "ingested_at", "updated_at", "processed_at"):
        value = row.get(column)
        if isinstance(value, datetime):
            return int(value.timestamp() * 1000)
    return None


def _short(row: Mapping[str, Any]) -> dict[str, Any]:
    return {k: str(v) for k, v in row.items() if v is not None and len(str(v)) <= 200}
