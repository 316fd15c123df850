"""Timestamps: every accepted ISO-8601 form reads as the same UTC instant, and both writers give
the same text shape."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

import pytest

from vpipe_core.values.timestamps import iso_utc, iso_utc_now, iso_utc_of, parse_iso_utc

WRITTEN = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z")
INSTANT = datetime(2026, 2, 3, 8, 15, 2, 481736, tzinfo=UTC)


@pytest.mark.parametrize(
    "text",
    [
        "2026-02-03T08:15:02.481736Z",
        "2026-02-03T08:15:02.4817365Z",  # past microseconds: truncated
        "2026-02-03T08:15:02.481736999+00:00",
        " 2026-02-03T08:15:02.481736z ",  # blanks and a lowercase z: the slow path
        "2026-02-03T09:15:02.481736+01:00",
        "2026-02-03T08:15:02.481736",  # naive: UTC
        "2026-02-03 08:15:02.481736Z",
    ],
)
def test_every_form_reads_as_the_same_utc_instant(text: str) -> None:
    moment = parse_iso_utc(text)
    assert moment == INSTANT and moment.tzinfo is UTC


@pytest.mark.parametrize(
    "text",
    [
        "2026-02-03T08:15:02.481736Z",  # read off the text
        "2026-02-03T08:15:02.481736+00:00",  # read off the text
        "2026-02-03T08:15:02.000000Z",
        "2026-02-03T08:15:02Z",
        "2026-02-03T08:15:02.481+00:00",
        "2026-02-03T08:15:02.4817365Z",
        "2026-02-03T09:15:02.481736+01:00",
        "2026-02-03T08:15:02.481736-00:00",
        "2026-02-03T08:15:02.481736",
        "2026-02-03 08:15:02.481736Z",
        " 2026-02-03T08:15:02.48173Z",
        "2026-W06-2T08:15:02.481736Z",  # an ISO week date, 27 characters too
    ],
)
def test_the_written_form_read_off_the_text_is_what_iso_utc_writes(text: str) -> None:
    moment = parse_iso_utc(text)
    assert iso_utc_of(text, moment) == iso_utc(moment)
    assert iso_utc_of(None, moment) == iso_utc(moment)


@pytest.mark.parametrize(
    "text", ["", "yesterday", "2026-02-30T08:15:00Z", "2026-02-03T25:00Z", "9999-12-31T23:00-05:00"]
)
def test_what_is_not_a_time_is_a_value_error(text: str) -> None:
    with pytest.raises(ValueError):
        parse_iso_utc(text)


def test_both_writers_give_utc_with_microseconds_and_z() -> None:
    assert iso_utc(INSTANT) == "2026-02-03T08:15:02.481736Z"
    assert iso_utc(INSTANT.astimezone(timezone(timedelta(hours=-5)))) == iso_utc(INSTANT)
    before = datetime.now(UTC)
    written = iso_utc_now()
    after = datetime.now(UTC)
    assert WRITTEN.fullmatch(written)
    assert before - timedelta(microseconds=1) <= parse_iso_utc(written) <= after
