"""ClaimX raw events, ids and tasks (claimx.md §4-§6) against the fixture rows."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
import pytest
from claimx_fixtures import SPEC_IDS, fixture_row, fixture_rows

from vpipe_claimx.events import (
    ClaimxEvent,
    InvalidEvent,
    canonical_time,
    check_enrichable,
    enrichment_task,
    message_of,
    parse_raw,
    parse_task,
    raw_message,
)
from vpipe_core.values.timestamps import iso_utc, iso_utc_now


@pytest.mark.parametrize(("number", "event_id"), sorted(SPEC_IDS.items()))
def test_event_ids_match_the_spec_table(number, event_id):
    assert raw_message(fixture_row(number))["event_id"] == event_id


def test_raw_message_shape_for_a_file_event():
    message = raw_message(fixture_row(4))
    assert message == {
        "event_id": SPEC_IDS[4],
        "event_type": "PROJECT_FILE_ADDED",
        "project_id": "5517342",
        "ingested_at": "2026-02-03T10:22:41.5093318Z",
        "media_id": "98810452",
        "task_assignment_id": None,
        "video_collaboration_id": None,
        "master_file_name": None,
        "raw_data": fixture_row(4),
    }


def test_numbers_and_strings_give_the_same_event():
    numeric = raw_message(fixture_row(13))
    assert numeric["project_id"] == "5517342" and numeric["media_id"] == "98810481"
    as_text = {**fixture_row(13), "projectId": "5517342", "mediaId": "98810481"}
    assert raw_message(as_text)["event_id"] == numeric["event_id"]


@pytest.mark.parametrize(
    ("given", "canonical"),
    [
        ("2026-02-04T11:02:18.33", "2026-02-04T11:02:18.3300000Z"),
        ("2026-02-03T10:22:41.5093318Z", "2026-02-03T10:22:41.5093318Z"),
        ("2026-02-03T10:22:41.509331812Z", "2026-02-03T10:22:41.5093318Z"),
        ("2026-02-03T12:22:41.5093318+02:00", "2026-02-03T10:22:41.5093318Z"),
        ("2026-02-03T05:22:41-0500", "2026-02-03T10:22:41.0000000Z"),
        (datetime(2026, 2, 3, 10, 22, 41, 509331, tzinfo=UTC), "2026-02-03T10:22:41.5093310Z"),
    ],
)
def test_canonical_time(given, canonical):
    assert canonical_time(given) == canonical


@pytest.mark.parametrize("bad", ["yesterday", "2026-13-45T10:00:00Z", 17, None])
def test_canonical_time_refuses_what_is_not_a_time(bad):
    with pytest.raises(InvalidEvent, match="ingestion time"):
        canonical_time(bad)


def test_record_timestamp_is_the_last_resort_for_the_time():
    row = {"eventType": "PROJECT_CREATED", "projectId": "1"}
    assert raw_message(row, record_timestamp_ms=1_770_113_055_287)["ingested_at"] == (
        "2026-02-03T10:04:15.2870000Z"
    )
    assert raw_message(row)["ingested_at"] is None


def test_every_fixture_row_reads_back_the_same_from_its_message():
    for row in fixture_rows():
        message = raw_message(row)
        event = parse_raw(orjson.dumps(message))
        assert event.event_id == message["event_id"]
        assert event.raw_data == row
        assert parse_raw(orjson.dumps(row)).event_id == message["event_id"], "bare rows too"


def test_unreadable_rows_are_still_published_with_a_stable_id():
    row = {"eventType": ["not", "text"], "projectId": {"x": 1}}
    first, again = raw_message(row), raw_message(dict(row))
    assert first["event_id"] == again["event_id"] and first["raw_data"] == row
    with pytest.raises(InvalidEvent, match="project_id: expected a string or a number"):
        parse_raw(orjson.dumps(first))


@pytest.mark.parametrize(
    ("number", "reason"),
    [(18, "task_assignment_id: expected digits only"), (19, "project_id: required")],
)
def test_enrichable_rules(number, reason):
    with pytest.raises(InvalidEvent, match=reason):
        check_enrichable(parse_raw(raw_message(fixture_row(number))))


@pytest.mark.parametrize("bad", [b"{not json", b"[1, 2]", b"", b"\xff\xfe"])
def test_parse_raw_refuses_what_is_not_an_object(bad):
    with pytest.raises(InvalidEvent):
        parse_raw(bad)


def test_enrichment_task_round_trip():
    event = parse_raw(raw_message(fixture_row(8)))
    task = enrichment_task(event, iso_utc(datetime(2026, 2, 3, 15, 11, tzinfo=UTC)))
    assert "raw_data" not in task
    assert task["created_at"] == "2026-02-03T15:11:00.000000Z"
    assert task["metadata"] == {} and task["retry_count"] == 0
    parsed = parse_task(orjson.dumps(task))
    assert parsed["task_assignment_id"] == "6021187" and parsed["event_id"] == SPEC_IDS[8]


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"event_id": None}, "event_id: required"),
        ({"project_id": "55-17"}, "project_id: expected digits only"),
        ({"media_id": "abc"}, "media_id: expected digits only"),
        ({"ingested_at": "soon"}, "ingestion time"),
        ({"event_type": 5}, "event_type: expected a string"),
    ],
)
def test_parse_task_names_what_is_wrong(change, reason):
    task = enrichment_task(parse_raw(raw_message(fixture_row(4))), iso_utc_now())
    with pytest.raises(InvalidEvent, match=reason):
        parse_task(orjson.dumps({**task, **change}))


def test_an_event_built_without_its_source_row_still_makes_a_message() -> None:
    event = ClaimxEvent("e-1", "PROJECT_CREATED", "5517342", "2026-02-03T10:04:15.2875531Z")
    message = orjson.loads(orjson.dumps(message_of(event)))
    assert message["raw_data"] == {} and message["event_id"] == "e-1"
