"""Hostile and broken values in a source row are an invalid event for that row alone (a dead
letter naming the field), never another exception that would fail a whole Delta batch."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson
import pytest

from vpipe_claimx.events import InvalidEvent as ClaimxInvalid
from vpipe_claimx.events import event_from_row
from vpipe_core.retry.envelope import due_at
from vpipe_core.retry.retry_after import MAX_RETRY_AFTER_S, retry_after_s
from vpipe_core.values.timestamps import parse_iso_utc
from vpipe_xact.events import InvalidEvent as XactInvalid
from vpipe_xact.events import parse_event

XACT_ROW = {
    "type": "verisk.claims.property.xn.status.accepted",
    "utcDateTime": "2026-11-30T09:00:00Z",
    "traceId": "hostile-1",
    "data": {"assignmentId": "H1"},
}
HOSTILE_XACT = [
    ("version", "²"),
    ("version", "٣"),
    ("version", "9" * 5000),
    ("version", "12345678901234567890123"),
    ("version", -1.5),
    ("version", {"nested": 1}),
    ("utcDateTime", "9999-12-31T23:00-05:00"),
    ("utcDateTime", "0001-01-01T00:30+01:00"),
    ("utcDateTime", "2026-13-45T99:99:99Z"),
    ("utcDateTime", 1764493200),
    ("utcDateTime", ["2026-11-30T09:00:00Z"]),
    ("traceId", {"id": "x"}),
    ("data", "[1, 2, 3]"),
    ("type", None),
]


@pytest.mark.parametrize(("field", "value"), HOSTILE_XACT)
def test_xact_hostile_values_are_invalid_events_naming_the_field(field, value):
    row = {**XACT_ROW, field: value}
    with pytest.raises(XactInvalid) as invalid:
        parse_event(orjson.dumps(row))
    assert field in str(invalid.value)


@pytest.mark.parametrize(
    "ingested", ["9999-12-31T23:00-05:00", "0001-01-01T00:30+01:00", "2026-02-30T00:00:00Z", "²"]
)
def test_claimx_hostile_ingestion_times_are_invalid_events(ingested):
    row = {"eventType": "PROJECT_CREATED", "projectId": "7300003", "ingestedAt": ingested}
    with pytest.raises(ClaimxInvalid, match="ingestion time"):
        event_from_row(row)


def test_times_outside_the_calendar_in_utc_are_value_errors():
    with pytest.raises(ValueError, match="outside the years 1 to 9999"):
        parse_iso_utc("9999-12-31T23:00-05:00")


NOW = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("120", 120.0),
        ("0", 0.0),
        (str(1000 * 86400), MAX_RETRY_AFTER_S),
        ("9" * 5000, MAX_RETRY_AFTER_S),
        ("Fri, 31 Dec 9999 23:59:59 GMT", MAX_RETRY_AFTER_S),
        ("Sun, 30 Nov 2026 09:00:30 GMT", 30.0),
        ("Mon, 01 Jan 2001 00:00:00 GMT", 0.0),
        ("-5", None),
        ("1.5", None),
        ("soon", None),
        ("٣", None),
        ("", None),
        (None, None),
    ],
)
def test_retry_after_is_capped_and_nonsense_is_absent(header, seconds):
    assert retry_after_s(header, NOW) == seconds


def test_a_tier_record_is_never_due_past_its_delay_plus_the_cap():
    far = NOW + timedelta(days=1000)
    assert due_at(NOW, 300, far) == NOW + timedelta(seconds=300 + MAX_RETRY_AFTER_S)
    assert due_at(NOW, 300, None) == NOW + timedelta(seconds=300)
    assert due_at(NOW, 300, NOW + timedelta(seconds=900)) == NOW + timedelta(seconds=900)
