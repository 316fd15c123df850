"""Table maintenance on real Delta tables on disk, through the Delta worker process: health,
compaction, checkpoints with log cleanup, vacuum's retention floor, and the writers'
exactly-once versions surviving all of it."""

from __future__ import annotations

import json
import os
import time
from datetime import date
from pathlib import Path

import pytest
from click.testing import CliRunner

from vpipe_core.cli.main import main
from vpipe_core.delta import Column, DeltaSink, TableSpec
from vpipe_core.tables.declared import MaintainedTable, Target
from vpipe_core.tables.health import TableHealth, due
from vpipe_core.tables.maintainer import Maintainer, RetentionTooShort
from vpipe_core.tables.settings import TableSettings
from vpipe_testing.delta import table_rows
from vpipe_xact.tables import XACT_EVENTS

EVENTS = TableSpec(
    name="events",
    columns=(Column("id", "string"), Column("day", "date"), Column("n", "long")),
    partition_by=("day",),
)
ENTITIES = TableSpec(
    name="entities",
    columns=(Column("id", "string"), Column("n", "long")),
    merge_keys=("id",),
)
SETTINGS = TableSettings(compact_min_small_files=3, checkpoint_interval=10)
DAYS = ("2026-11-01", "2026-11-02")
DATES = tuple(date.fromisoformat(day) for day in DAYS)
DAY_OF_YEAR_2000 = 946684800


def write_commits(path: Path, spec: TableSpec, commits: int, app_id: str = "w-0") -> None:
    with DeltaSink(str(path), spec) as sink:
        for version in range(commits):
            row = {"id": f"r{version}", "n": version}
            if spec.partition_by:
                sink.append([{**row, "day": DATES[version % 2]}], app_id, version)
            else:
                sink.merge([{**row, "id": f"r{version % 5}"}], app_id, version)


def target(path: Path, spec: TableSpec, z_order: tuple[str, ...] = ()) -> Target:
    return Target("test", MaintainedTable(spec, "TEST_TABLE", z_order), str(path))


@pytest.fixture
def maintainer():
    m = Maintainer(SETTINGS, {})
    yield m
    m.close()


def test_health_counts_small_files_per_partition_and_commits_since_checkpoint(tmp_path, maintainer):
    write_commits(tmp_path / "t", EVENTS, 12)
    health = maintainer.health(target(tmp_path / "t", EVENTS))
    assert health is not None
    assert (health.files, health.small_files, health.version) == (12, 12, 12)
    assert sorted(p["day"] for p, small in health.small_file_partitions) == list(DAYS)
    assert all(small == 6 for _, small in health.small_file_partitions)
    assert health.commits_since_checkpoint == 13  # versions 0..12, no checkpoint yet
    assert maintainer.health(target(tmp_path / "absent", EVENTS)) is None


def test_compaction_keeps_every_row_and_the_writers_versions(tmp_path, maintainer):
    path = tmp_path / "t"
    write_commits(path, EVENTS, 12)
    before = sorted(row["id"] for row in table_rows(path))
    result = maintainer.run_due(target(path, EVENTS, z_order=("id",)))
    assert result["optimize"] == {"partitions": 2, "files_removed": 12, "files_added": 2}
    assert "checkpoint" in result and "vacuum" in result
    assert sorted(row["id"] for row in table_rows(path)) == before
    health = maintainer.health(target(path, EVENTS))
    assert health is not None and health.files == 2 and health.commits_since_checkpoint == 0
    assert health.last_optimize_ms is not None
    with DeltaSink(str(path), EVENTS) as sink:
        assert sink.committed_version("w-0") == 11
        assert sink.append([{"id": "again", "day": DATES[0], "n": 0}], "w-0", 11) == "skipped"


def test_checkpoint_sets_the_declared_properties_and_log_cleanup_keeps_the_versions(
    tmp_path, maintainer
):
    path = tmp_path / "t"
    write_commits(path, ENTITIES, 15)
    tgt = target(path, ENTITIES)
    first = maintainer.checkpoint(tgt)
    assert set(first["properties_set"]) == set(SETTINGS.table_properties)
    write_commits(path, ENTITIES, 20, app_id="w-1")
    # Every log entry is older than the log retention (30 days): only the checkpoint remains
    # to say what the table and its transactions are.
    for entry in (path / "_delta_log").glob("*.json"):
        os.utime(entry, (DAY_OF_YEAR_2000, DAY_OF_YEAR_2000))
    second = maintainer.checkpoint(tgt)
    assert second["properties_set"] == []
    assert second["log_files_after"] < second["log_files_before"]
    with DeltaSink(str(path), ENTITIES) as sink:
        assert sink.committed_version("w-0") == 14
        assert sink.committed_version("w-1") == 19
    assert sorted(row["id"] for row in table_rows(path)) == [f"r{i}" for i in range(5)]


def test_vacuum_refuses_a_retention_under_the_documented_minimum_unless_forced(
    tmp_path, maintainer
):
    path = tmp_path / "t"
    write_commits(path, EVENTS, 6)
    tgt = target(path, EVENTS)
    with pytest.raises(RetentionTooShort, match="168 h"):
        maintainer.vacuum(tgt, dry_run=True, retention_hours=1)
    maintainer.compact(tgt, [{"day": DAYS[0]}])
    assert maintainer.vacuum(tgt, dry_run=False) == []  # removed just now: kept
    deleted = maintainer.vacuum(tgt, dry_run=False, retention_hours=0, force=True)
    assert len(deleted) == 3
    assert len(table_rows(path)) == 6


def test_full_vacuum_deletes_old_never_committed_files_but_not_a_file_removed_just_now(
    tmp_path, maintainer
):
    """A file written long ago and removed by a compaction a moment ago may still be read by a
    reader of the previous version: its age is the removal's, not the file's."""
    path = tmp_path / "t"
    write_commits(path, EVENTS, 6)
    for data in path.rglob("*.parquet"):
        os.utime(data, (DAY_OF_YEAR_2000, DAY_OF_YEAR_2000))
    orphan = path / f"day={DAYS[0]}" / "part-orphan-of-a-killed-writer.parquet"
    orphan.write_bytes(b"never committed")
    os.utime(orphan, (DAY_OF_YEAR_2000, DAY_OF_YEAR_2000))
    tgt = target(path, EVENTS)
    maintainer.compact(tgt, [{"day": DAYS[0]}, {"day": DAYS[1]}])
    deleted = maintainer.vacuum(tgt, dry_run=False)
    assert deleted == [f"day={DAYS[0]}/{orphan.name}"]
    assert len(table_rows(path)) == 6


def test_due_plans_the_worst_partitions_first_and_a_vacuum_per_interval():
    health = TableHealth.from_reply(
        {
            "version": 50,
            "files": 50,
            "bytes": 5000,
            "small_files": 50,
            "small_file_partitions": [
                {"partition": {"day": "b"}, "small_files": 30},
                {"partition": {"day": "a"}, "small_files": 15},
                {"partition": {"day": "c"}, "small_files": 2},
            ],
            "checkpoint_version": 45,
            "commits_since_checkpoint": 5,
            "log_files": 50,
            "vacuum_pending": 0,
            "properties": SETTINGS.table_properties,
            "last_optimize_ms": None,
            "last_vacuum_ms": None,
        }
    )
    settings = TableSettings(compact_min_small_files=3, compact_max_partitions=1)
    hour_ms = 3_600_000
    plan = due(health, settings, last_vacuum_ms=0, now_ms=23 * hour_ms)
    assert plan.compact == ({"day": "b"},) and not plan.vacuum
    assert plan.checkpoint  # the properties differ: TABLES_CHECKPOINT_INTERVAL is 100 here
    assert due(health, settings, last_vacuum_ms=0, now_ms=24 * hour_ms).vacuum
    assert due(health, settings, last_vacuum_ms=None, now_ms=0).vacuum


def test_cli_status_optimize_and_vacuum(tmp_path, monkeypatch):
    path = tmp_path / "xact_events"
    with DeltaSink(str(path), XACT_EVENTS) as sink:
        for version in range(4):
            row = {"trace_id": f"t{version}", "event_date": DATES[version % 2]}
            sink.append([row], "w-0", version)
    monkeypatch.setenv("XACT_DELTA_EVENTS_TABLE", str(path))
    monkeypatch.setenv("TABLES_COMPACT_MIN_SMALL_FILES", "2")
    for variable in ("XACT_DELTA_INVENTORY_TABLE", "XACT_DELTA_FAILED_TABLE", "VPIPE_ENV_FILE"):
        monkeypatch.delenv(variable, raising=False)
    runner = CliRunner()
    status = runner.invoke(main, ["tables", "status", "--domain", "xact", "--json"])
    assert status.exit_code == 0, status.output
    lines = [json.loads(line) for line in status.stdout.splitlines()]
    events = next(line for line in lines if line["table"] == "xact_events")
    assert events["files"] == 4 and "optimize 2 partition(s)" in events["due"]
    assert {"table": "xact_attachments", "domain": "xact", "configured": False} | {
        "setting": "XACT_DELTA_INVENTORY_TABLE"
    } in lines

    dry = runner.invoke(main, ["tables", "optimize", "--table", "xact_events", "--dry-run"])
    assert dry.exit_code == 0 and "would compact" in dry.stdout
    assert len(table_rows(path)) == 4 and len(list(path.rglob("*.parquet"))) == 4
    done = runner.invoke(main, ["tables", "optimize", "--table", "xact_events"])
    assert done.exit_code == 0 and "4 files rewritten into 2" in done.stdout, done.output

    short = runner.invoke(
        main, ["tables", "vacuum", "--table", "xact_events", "--retention-hours", "1"]
    )
    assert short.exit_code == 2 and "168 h" in short.output
    unknown = runner.invoke(main, ["tables", "status", "--table", "nope"])
    assert unknown.exit_code == 2 and "declared: " in unknown.output


def test_status_names_the_table_that_does_not_exist_yet(tmp_path, monkeypatch):
    monkeypatch.setenv("XACT_DELTA_EVENTS_TABLE", str(tmp_path / "later"))
    monkeypatch.delenv("VPIPE_ENV_FILE", raising=False)
    result = CliRunner().invoke(main, ["tables", "status", "--table", "xact_events"])
    assert result.exit_code == 0 and "not created yet" in result.stdout


def test_the_maintenance_clock_is_the_tables_history(tmp_path):
    """A new maintenance process finds the last compaction in the table's own history."""
    path = tmp_path / "t"
    write_commits(path, EVENTS, 4)
    first = Maintainer(SETTINGS, {})
    try:
        first.compact(target(path, EVENTS), [{"day": DAYS[0]}])
    finally:
        first.close()
    later = Maintainer(SETTINGS, {})
    try:
        health = later.health(target(path, EVENTS))
    finally:
        later.close()
    assert health is not None and health.last_optimize_ms is not None
    assert abs(health.last_optimize_ms / 1000 - time.time()) < 600


def test_a_failing_step_is_counted_and_does_not_keep_the_others_from_running(tmp_path, maintainer):
    path = tmp_path / "t"
    write_commits(path, EVENTS, 12)
    damaged = next(path.rglob("*.parquet"))
    damaged.write_bytes(b"not parquet: the compaction cannot read it")
    ran = maintainer.run_due(target(path, EVENTS))
    assert str(ran["optimize"]).startswith("error: ")
    assert ran["checkpoint"]["version"] == 13  # after the commit that set the properties
    assert ran["vacuum"] == 0


def test_a_z_order_by_a_partition_column_is_refused_at_declaration():
    with pytest.raises(ValueError, match="partition columns"):
        MaintainedTable(EVENTS, "TEST_TABLE", z_order=("day",))
