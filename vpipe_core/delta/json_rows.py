"""Rows decoded from JSON messages, typed for their table: ISO text → datetimes and dates.

JSON has no time types: producers write timestamps as ISO-8601 text (`…41.509331Z`) and dates as
`YYYY-MM-DD`. Only `timestamp` and `date` columns are converted (a naive time is UTC; digits past
the microsecond are truncated); everything else is left as it came, so `convert.to_arrow` still
rejects what does not fit, naming the table and the column.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import Any

from vpipe_core.delta.schema import TableSpec


def typed_row(spec: TableSpec, row: Mapping[str, Any]) -> dict[str, Any]:
    """`row` with the text of its timestamp and date columns parsed; unparseable text stays
    text (and is rejected by the conversion with the column's name)."""
    typed = dict(row)
    timestamps, dates = _time_columns(spec)
    for column in timestamps:
        value = row.get(column)
        if isinstance(value, str):
            typed[column] = _timestamp(value)
    for column in dates:
        value = row.get(column)
        if isinstance(value, str):
            typed[column] = _date(value)
    return typed


@functools.cache
def _time_columns(spec: TableSpec) -> tuple[tuple[str, ...], tuple[str, ...]]:
    types = spec.column_types()
    return (
        tuple(name for name, kind in types.items() if kind == "timestamp"),
        tuple(name for name, kind in types.items() if kind == "date"),
    )


def _timestamp(text: str) -> datetime | str:
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        return text
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _date(text: str) -> date | str:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        return text
