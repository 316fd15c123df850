"""§9.1 value helpers: strict ints with a warning counter, trimmed text, ids, booleans, times."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from vpipe_claimx.rows import values


def invalid_count(column: str) -> float:
    sample = values.invalid_values.labels(table="t", column=column)
    return sample._value.get()


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (5, 5),
        ("  42 ", 42),
        ("-3", -3),
        (1840.0, 1840),
        (Decimal("7"), 7),
        (None, None),
        (" ", None),
    ],
)
def test_to_int_accepts_integers(raw, expected):
    assert values.to_int(raw, "t", "ok_int") == expected


@pytest.mark.parametrize("raw", ["4x", 1.5, True, Decimal("2.5"), {"a": 1}, "1e3"])
def test_to_int_rejects_with_a_counted_warning(raw, caplog):
    before = invalid_count("bad_int")
    assert values.to_int(raw, "t", "bad_int") is None
    assert invalid_count("bad_int") == before + 1
    assert "t.bad_int: expected an integer" in caplog.text


@pytest.mark.parametrize(
    ("raw", "expected"),
    [(5517342, "5517342"), (" 5517342 ", "5517342"), (5517342.0, "5517342"), (None, None)],
)
def test_to_id(raw, expected):
    assert values.to_id(raw, "t", "id") == expected


@pytest.mark.parametrize("raw", ["TA-77X", -1, 2.5])
def test_to_id_rejects_non_numeric(raw):
    before = invalid_count("bad_id")
    assert values.to_id(raw, "t", "bad_id") is None
    assert invalid_count("bad_id") == before + 1


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("  Boise ", "Boise"),
        ("   ", None),
        (None, None),
        (12, "12"),
        (Decimal("1587.25"), "1587.25"),
        (Decimal("1E+3"), "1000"),
        (0.1, "0.1"),
        (True, "true"),
    ],
)
def test_to_text(raw, expected):
    assert values.to_text(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (True, True),
        (False, False),
        ("TRUE", True),
        (" yes ", True),
        ("1", True),
        (1, True),
        ("no", False),
        ("0", False),
        ("false", False),
        ("", None),
        (None, None),
    ],
)
def test_to_bool(raw, expected):
    assert values.to_bool(raw, "t", "flag") is expected


def test_to_bool_rejects_other_text():
    before = invalid_count("bad_flag")
    assert values.to_bool("maybe", "t", "bad_flag") is None
    assert invalid_count("bad_flag") == before + 1


@pytest.mark.parametrize(
    ("raw", "expected"),
    [(1587.25, "1587.25"), (Decimal("1587.250"), "1587.250"), ("  12.5 ", "12.5"), (3, "3")],
)
def test_to_decimal_text_is_exact(raw, expected):
    assert values.to_decimal_text(raw, "t", "dec") == expected


def test_to_decimal_text_rejects_non_numbers():
    assert values.to_decimal_text("abc", "t", "bad_dec") is None
    assert values.to_decimal_text(True, "t", "bad_dec") is None


def test_to_double():
    assert values.to_double(1840, "t", "d") == 1840.0
    assert values.to_double("18.5", "t", "d") == 18.5
    assert values.to_double("x", "t", "bad_d") is None


def test_api_time_rewrites_z_only():
    assert values.api_time("2026-02-03T10:04:12Z") == "2026-02-03T10:04:12+00:00"
    assert values.api_time("2026-02-03T10:04:12-07:00") == "2026-02-03T10:04:12-07:00"
    assert values.api_time(" ") is None


def test_timestamps():
    moment = datetime(2026, 2, 3, 10, 4, 15, 287553, tzinfo=UTC)
    assert values.timestamp(moment) == "2026-02-03T10:04:15.287553Z"
    assert values.ingestion_timestamp("2026-02-03T10:04:15.2875531Z") == (
        "2026-02-03T10:04:15.287553Z"
    )
    assert values.date_of(moment) == "2026-02-03"


def test_sections():
    assert values.mapping(None) == {} and values.mapping([1]) == {}
    assert values.objects([{"a": 1}, 2, None]) == [{"a": 1}]
    assert values.objects({"a": 1}) == []
