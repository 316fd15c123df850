"""Every documented alias of a source field, with the primary name absent, null, empty and blank:
the alias's value wins (an Eventhouse table has fixed columns, so the primary is often null)."""

from __future__ import annotations

import orjson
import pytest

from vpipe_claimx.events import ALIASES, INGESTION_TIME_ALIASES, event_from_row
from vpipe_core.values.aliases import first_present
from vpipe_xact.events import TRACE_ID_ALIASES, parse_event
from vpipe_xact.poller import CURSOR_KEY

PRIMARY_STATES = {"absent": ..., "null": None, "empty": "", "blank": "  "}

CLAIMX_BASE = {
    "eventType": "PROJECT_FILE_ADDED",
    "projectId": "7300001",
    "ingestedAt": "2026-11-30T10:00:00Z",
}
CLAIMX_VALUES = {
    "event_id": "acc-evt-1",
    "event_type": "PROJECT_FILE_ADDED",
    "project_id": "7300001",
    "media_id": "7300001009",
    "task_assignment_id": "88001",
    "video_collaboration_id": "99001",
    "master_file_name": "site_walk.mp4",
}


def with_primary(row: dict, primary: str, state: str) -> dict:
    row = {key: value for key, value in row.items() if key != primary}
    if PRIMARY_STATES[state] is not ...:
        row[primary] = PRIMARY_STATES[state]
    return row


@pytest.mark.parametrize("state", PRIMARY_STATES)
def test_xact_trace_id_alias(state):
    row = {
        "type": "verisk.claims.property.xn.status.accepted",
        "utcDateTime": "2026-11-30T09:59:58Z",
        "data": {"assignmentId": "ACC-1"},
        "trace_id": "acc-trace-7f31",
    }
    assert TRACE_ID_ALIASES == ("traceId", "trace_id")
    event = parse_event(orjson.dumps(with_primary(row, "traceId", state)))
    assert event.trace_id == "acc-trace-7f31"


@pytest.mark.parametrize("state", PRIMARY_STATES)
@pytest.mark.parametrize(("field", "names"), sorted(ALIASES.items()))
def test_claimx_field_aliases(field, names, state):
    primary, alias = names
    row = {**CLAIMX_BASE, alias: CLAIMX_VALUES[field]}
    event = event_from_row(with_primary(row, primary, state))
    assert getattr(event, field) == CLAIMX_VALUES[field]


@pytest.mark.parametrize("state", PRIMARY_STATES)
def test_claimx_ingestion_time_aliases(state):
    primary, *others = INGESTION_TIME_ALIASES
    for alias in others:
        row = {
            "eventType": "PROJECT_CREATED",
            "projectId": "7300002",
            alias: "2026-11-30T10:00:01Z",
        }
        event = event_from_row(with_primary(row, primary, state))
        assert event.ingested_at.startswith("2026-11-30T10:00:01"), alias


def test_first_present_skips_missing_null_empty_and_blank_but_keeps_zero_and_false():
    assert first_present({"a": None, "b": " ", "c": "", "d": 0}, ("x", "a", "b", "c", "d")) == 0
    assert first_present({"a": False}, ("a",)) is False
    assert first_present({}, ("a", "b")) is None


def test_the_xact_poller_pages_on_trace_id_or_its_alias():
    assert "tostring(traceId)" in CURSOR_KEY and '"trace_id"' in CURSOR_KEY
