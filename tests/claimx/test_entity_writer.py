"""`claimx-entity-writer` handler (claimx.md §9.1) on real Delta tables, records in process:
per-table merge rules with rows from the real row builders and the API fixtures."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from deltalake import DeltaTable
from entity_messages import (
    FETCHED,
    everything_message,
    policyholder_message,
    project_message,
    xa_failed_message,
)

from vpipe_claimx.entity_writer import TABLE_SETTINGS, build
from vpipe_claimx.tables import ENTITY_TABLES
from vpipe_core.config.core import CoreSettings
from vpipe_core.config.loader import ConfigError, load_settings
from vpipe_core.context import WorkerContext
from vpipe_core.delta.multi_table import MultiTableWriter
from vpipe_core.delta.writers import WritesDisabled
from vpipe_core.outcome import Dead, Done
from vpipe_core.record import Record
from vpipe_core.registry import load_worker
from vpipe_testing.delta import table_rows

TOPIC = "claimx.entities.rows"


def context(env: dict[str, str]) -> WorkerContext:
    spec = load_worker("claimx-entity-writer")
    settings = load_settings(CoreSettings, env)
    return WorkerContext(spec, 1, spec.name, settings, env, logging.getLogger("test"))


def table_env(root: Path) -> dict[str, str]:
    return {
        variable: str(root / ENTITY_TABLES[key].name)
        for key, (_, variable) in TABLE_SETTINGS.items()
    }


@pytest.fixture
def tables(tmp_path: Path) -> Path:
    return tmp_path / "tables"


@pytest.fixture
def writer(tables: Path) -> Iterator[MultiTableWriter]:
    handler = build(context(table_env(tables)))
    assert isinstance(handler, MultiTableWriter)
    yield handler
    handler.close()


class Feed:
    """Hands messages to the handler as records with increasing offsets (one partition)."""

    def __init__(self, handler: MultiTableWriter) -> None:
        self.handler, self.offset = handler, 0

    def __call__(self, *messages: dict[str, Any] | bytes) -> list[Any]:
        records = []
        for message in messages:
            value = message if isinstance(message, bytes) else orjson.dumps(message)
            records.append(Record(TOPIC, 0, self.offset, b"key", value))
            self.offset += 1
        return self.handler.handle_batch(records)


def rows(tables: Path, key: str) -> list[dict[str, Any]]:
    return table_rows(tables / ENTITY_TABLES[key].name)


def one(tables: Path, key: str) -> dict[str, Any]:
    [row] = rows(tables, key)
    return row


def test_every_table_is_created_at_start_from_its_declaration(writer, tables):
    for spec in ENTITY_TABLES.values():
        table = DeltaTable(str(tables / spec.name))
        assert table.schema().to_arrow().names == list(spec.column_names)
        assert table.metadata().partition_columns == [], "no partitioning (§9.1)"


def test_a_message_lands_in_all_seven_tables_with_typed_values(writer, tables):
    feed = Feed(writer)
    assert feed(everything_message("e1", 4)) == [Done(())]
    project = one(tables, "projects")
    assert project["project_id"] == "5517342" and project["company_name"] == "Northwind Mutual"
    assert project["last_enriched_at"] == FETCHED
    assert project["event_id"] == "e1" and project["year_built"] == 1987
    assert len(rows(tables, "media")) == 7
    contacts = {(r["contact_type"], r["contact_email"]): r for r in rows(tables, "contacts")}
    customer = contacts[("POLICYHOLDER", "elena.okafor@mail.example")]
    assert customer["is_primary_contact"] is True, "the link recipient did not flip it"
    assert customer["task_assignment_id"] == 6021187, "coalesced with the link recipient"
    assert customer["created_date"] == date(2026, 2, 3)
    assert one(tables, "tasks")["assignment_id"] == 6021187
    assert one(tables, "task_templates")["task_id"] == 27019
    assert one(tables, "external_links")["link_id"] == 412907
    assert one(tables, "video_collab")["total_time_seconds"] == "1587.25"


def test_a_partial_row_never_blanks_columns_and_a_later_full_row_keeps_its_values(writer, tables):
    feed = Feed(writer)
    feed(project_message("e1", 1))
    feed(policyholder_message("e2", "POLICYHOLDER_INVITED", 5), xa_failed_message("e3", 6))
    project = one(tables, "projects")
    assert project["status"] == "Active" and project["city"] == "Boise", "not blanked"
    invited = project["policyholder_invited_at"]
    assert invited == datetime(2026, 2, 3, 10, 5, tzinfo=UTC)
    assert project["xa_autolink_fail"] is True

    later = FETCHED + timedelta(hours=1)
    feed(project_message("e4", 30, fetched=later))  # a later full row
    project = one(tables, "projects")
    assert project["policyholder_invited_at"] == invited and project["xa_autolink_fail"] is True
    assert project["last_enriched_at"] == later and project["event_id"] == "e4"
    assert project["created_at"] == datetime(2026, 2, 3, 10, 1, tzinfo=UTC), "kept"


def test_a_late_older_row_does_not_overwrite_a_newer_one(writer, tables):
    feed = Feed(writer)
    newer = project_message("e-new", 10, fetched=FETCHED + timedelta(minutes=10))
    newer["projects"][0]["status"] = "Closed"
    feed(newer)
    feed(project_message("e-old", 2, fetched=FETCHED))  # a retry tier delivers it late
    project = one(tables, "projects")
    assert (project["status"], project["event_id"]) == ("Closed", "e-new")


def test_task_templates_update_only_when_modified_date_changes(writer, tables):
    feed = Feed(writer)
    feed(everything_message("e1", 1))
    same = everything_message("e2", 2, fetched=FETCHED + timedelta(minutes=5))
    same["task_templates"][0]["name"] = "renamed without a new modified date"
    feed(same)
    assert one(tables, "task_templates")["name"] == "iTel Cabinet Repair Form"
    changed = everything_message("e3", 3, fetched=FETCHED + timedelta(minutes=9))
    changed["task_templates"][0].update(name="v2", modified_date="2026-02-01T00:00:00+00:00")
    feed(changed)
    assert one(tables, "task_templates")["name"] == "v2"


def test_replaying_the_same_messages_at_new_offsets_leaves_every_table_unchanged(writer, tables):
    feed = Feed(writer)
    batch = (everything_message("e1", 1), policyholder_message("e2", "POLICYHOLDER_JOINED", 2))
    feed(*batch)
    before = {key: sorted(map(repr, rows(tables, key))) for key in ENTITY_TABLES}
    versions = {key: DeltaTable(str(tables / s.name)).version() for key, s in ENTITY_TABLES.items()}
    feed(*batch)
    feed(batch[1], batch[0])
    assert {key: sorted(map(repr, rows(tables, key))) for key in ENTITY_TABLES} == before
    after = {key: DeltaTable(str(tables / s.name)).version() for key, s in ENTITY_TABLES.items()}
    assert after == versions


def test_an_unknown_row_key_kills_its_message_with_table_and_key_named(writer, tables, caplog):
    feed = Feed(writer)
    bad = project_message("e-bad", 1)
    bad["contacts"][0]["nickname"] = "Ellie"
    good = everything_message("e-good", 2)
    good["projects"][0]["project_id"] = "5517343"
    with caplog.at_level(logging.ERROR, logger="vpipe.delta"):
        outcomes = feed(bad, good)
    assert isinstance(outcomes[0], Dead) and isinstance(outcomes[1], Done)
    assert "claimx_contacts" in outcomes[0].error and "nickname" in outcomes[0].error
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert [r.table for r in errors] == ["claimx_contacts"]  # type: ignore[attr-defined]
    assert "nickname" in errors[0].error  # type: ignore[attr-defined]
    assert [r["project_id"] for r in rows(tables, "projects")] == ["5517343"], (
        "the dead message wrote nothing, the rest of the batch was written"
    )


def test_control_keys_are_stripped_and_invalid_messages_are_dead(writer, tables):
    feed = Feed(writer)
    message = project_message("e1", 1)
    message["projects"][0]["_source"] = "E1"
    outcomes = feed(
        message,
        b"not json",
        {"event_id": "x", "projects": {"project_id": "1"}},
        {"event_id": "x", "attachments": []},
        {"projects": []},
    )
    assert isinstance(outcomes[0], Done)
    reasons = [o.error for o in outcomes[1:]]
    assert all(isinstance(o, Dead) for o in outcomes[1:])
    assert "not JSON" in reasons[0] and "projects: expected a list" in reasons[1]
    assert "attachments" in reasons[2] and "event_id" in reasons[3]


def test_missing_table_settings_are_one_config_error_naming_each_variable():
    with pytest.raises(ConfigError) as caught:
        build(context({"CLAIMX_DELTA_PROJECTS_TABLE": "/tmp/p"}))
    text = str(caught.value)
    assert "CLAIMX_DELTA_CONTACTS_TABLE" in text and "CLAIMX_DELTA_VIDEO_COLLAB_TABLE" in text
    assert "CLAIMX_DELTA_PROJECTS_TABLE" not in text


def test_writes_disabled_consumes_without_writing(tables):
    handler = build(context({**table_env(tables), "ENABLE_DELTA_WRITES": "false"}))
    assert isinstance(handler, WritesDisabled)
    assert handler.batch_size == 200 and handler.batch_max_wait_s == 10.0
    assert Feed(handler)(project_message("e1", 1)) == [Done(())]  # type: ignore[arg-type]
    assert not tables.exists()


def test_batch_size_comes_from_the_setting(tables):
    handler = build(context({**table_env(tables), "CLAIMX_ENTITY_BATCH_SIZE": "37"}))
    assert isinstance(handler, MultiTableWriter) and handler.batch_size == 37
    handler.close()


def test_the_delta_write_timeout_comes_from_the_setting(tables):
    handler = build(context({**table_env(tables), "DELTA_WRITE_TIMEOUT_SECONDS": "42"}))
    assert isinstance(handler, MultiTableWriter)
    assert {table.sink.timeout_s for table in handler._tables} == {42}
    handler.close()
