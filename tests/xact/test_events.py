"""XACT event parsing and derivations against the worked examples of xact.md §4."""

from __future__ import annotations

import orjson
import pytest
from xact_fixtures import fixture_bytes, fixture_rows

from vpipe_core.values.timestamps import iso_utc
from vpipe_xact.events import InvalidEvent, coerce_id, event_id, media_id, parse_event
from vpipe_xact.paths import attachments_of

URL_A1 = fixture_rows()[0]["data"]["attachments"][0]
URL_A2 = fixture_rows()[0]["data"]["attachments"][1]


def test_namespaces_and_ids_match_the_spec():
    trace = "7d2f4a90-1c3e-4b8a-9f61-2e5d8c0b7a13"
    assert event_id(trace) == "6f7ee10a-02f9-5ad0-80c4-1ab86c9cc8d5"
    assert media_id(trace, URL_A1) == "ad038bf7-c33d-55be-8f68-c30f77f28963"
    assert media_id(trace, URL_A2) == "dee77d85-0ac2-56a4-aef7-3e901b815ecc"


@pytest.mark.parametrize(
    ("row", "subtype"),
    [(1, "documentsReceived"), (8, "delivered"), (9, "accepted"), (2, "firstNoticeOfLossReceived")],
)
def test_status_subtype(row, subtype):
    assert parse_event(fixture_bytes(row)).status_subtype == subtype


def test_documents_received_names_and_path():
    first = attachments_of(parse_event(fixture_bytes(1)))[0]
    assert first.filename == "T4W9R2K_Front_Elevation_03.jpg"
    assert first.file_type == "JPG"
    assert first.blob_path == (
        "documentsReceived/T4W9R2K/7d2f4a90-1c3e-4b8a-9f61-2e5d8c0b7a13/"
        "T4W9R2K_Front_Elevation_03.jpg"
    )


def test_fnol_and_estimate_names():
    assert attachments_of(parse_event(fixture_bytes(2)))[0].filename == "M7Q2X5D_FNOL_XACTDOC.xml"
    names = [a.filename for a in attachments_of(parse_event(fixture_bytes(3)))]
    assert names[0] == "H2N8V6P_3_Estimate_Final.esx"
    assert attachments_of(parse_event(fixture_bytes(16)))[0].filename == (
        "H2N8V6P_unknown_Supplement_1.esx"
    )


def test_other_subtype_unknown_type_and_collisions():
    names = [a.filename for a in attachments_of(parse_event(fixture_bytes(6)))]
    assert "M7Q2X5D_Inspection_Checklist.docx" in names
    row10 = attachments_of(parse_event(fixture_bytes(10)))
    names = [a.filename for a in row10]
    assert "R5K1D8M_README" in names
    assert names.index("R5K1D8M_Kitchen.jpg") < names.index("R5K1D8M_Kitchen_f011a3cc.jpg")
    collided = next(a for a in row10 if a.filename == "R5K1D8M_Kitchen_f011a3cc.jpg")
    assert collided.media_id == "f011a3cc-66cd-5a8e-b007-3db38c695035"
    assert next(a for a in row10 if a.filename == "R5K1D8M_README").file_type == "UNKNOWN"


def test_numeric_ids_are_coerced_to_strings():
    event = parse_event(fixture_bytes(11))
    assert event.assignment_id == "4471982"
    assert coerce_id(7731) == "7731" and coerce_id(12.0) == "12" and coerce_id(" ") is None


def test_missing_trace_id_is_invalid():
    with pytest.raises(InvalidEvent, match="traceId"):
        parse_event(fixture_bytes(12))


def test_naive_time_is_utc():
    assert iso_utc(parse_event(fixture_bytes(13)).event_time) == "2026-02-03T13:20:45.000000Z"


def test_data_as_json_string_and_attachment_cleanup():
    event = parse_event(fixture_bytes(14))
    assert len(event.attachments) == 2


def test_no_assignment():
    assert parse_event(fixture_bytes(17)).assignment_id is None


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        (b"not json", "not JSON"),
        (b"[1, 2]", "JSON object"),
        (
            orjson.dumps({"type": "x", "utcDateTime": "nope", "traceId": "t", "data": {}}),
            "utcDateTime",
        ),
        (
            orjson.dumps({"type": "x", "utcDateTime": "2026-01-01", "traceId": "t", "data": "[1]"}),
            "data",
        ),
        (
            orjson.dumps(
                {
                    "type": "x",
                    "version": "v2",
                    "utcDateTime": "2026-01-01",
                    "traceId": "t",
                    "data": {},
                }
            ),
            "version",
        ),
        (orjson.dumps({"utcDateTime": "2026-01-01", "traceId": "t", "data": {}}), "type"),
    ],
)
def test_invalid_events_name_the_field(raw, field):
    with pytest.raises(InvalidEvent, match=field):
        parse_event(raw)


def test_seven_digit_times_are_truncated_not_rounded():
    raw = orjson.dumps(
        {"type": "a.b", "utcDateTime": "2026-02-03T08:15:02.4817369Z", "traceId": "t", "data": {}}
    )
    assert iso_utc(parse_event(raw).event_time) == "2026-02-03T08:15:02.481736Z"
