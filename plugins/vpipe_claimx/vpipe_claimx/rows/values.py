"""Value helpers of claimx.md §9.1: API values (camelCase JSON, numbers as ints or decimals) become
the typed values of the entity rows.

A value that cannot be read as its column's type becomes null, is logged and counted in
`vpipe_claimx_invalid_values_total{table, column}`; it never fails the event.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from prometheus_client import Counter

from vpipe_claimx.events import ingested_datetime
from vpipe_core.ops.metrics import REGISTRY
from vpipe_core.values.timestamps import iso_utc

log = logging.getLogger("vpipe.claimx.rows")

invalid_values = Counter(
    "vpipe_claimx_invalid_values_total",
    "API values that could not be read as their column's type (written as null)",
    ["table", "column"],
    registry=REGISTRY,
)

_INTEGER = re.compile(r"[+-]?[0-9]+")
_DIGITS = re.compile(r"[0-9]+")
_TRUE = frozenset({"true", "1", "yes"})
_FALSE = frozenset({"false", "0", "no"})


def _invalid(table: str, column: str, value: Any, expected: str) -> None:
    invalid_values.labels(table=table, column=column).inc()
    log.warning(
        "%s.%s: expected %s, got %.80r; written as null",
        table,
        column,
        expected,
        value,
        extra={"table": table, "column": column},
    )


def _integral(value: float | Decimal) -> int | None:
    try:
        return int(value) if value == value.to_integral_value() else None  # type: ignore[union-attr]
    except (InvalidOperation, OverflowError, ValueError):
        return None


def _as_integer(value: Any) -> int | None:
    """An int from an int, an integral float/decimal or integer text; None when it is not one."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if value.is_integer() else None
    if isinstance(value, Decimal):
        return _integral(value) if value.is_finite() else None
    if isinstance(value, str) and _INTEGER.fullmatch(value.strip()):
        return int(value.strip())
    return None


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def to_int(value: Any, table: str, column: str) -> int | None:
    """Strict integer (int64 columns); blank → null; anything else → null + warning."""
    if _blank(value):
        return None
    number = _as_integer(value)
    if number is None:
        _invalid(table, column, value, "an integer")
    return number


def to_id(value: Any, table: str, column: str) -> str | None:
    """An id as integer text (`5517342` and `"5517342"` give `"5517342"`); blank → null."""
    if _blank(value):
        return None
    if isinstance(value, str) and _DIGITS.fullmatch(value.strip()):
        return value.strip()
    number = _as_integer(value)
    if number is None or number < 0:
        _invalid(table, column, value, "a numeric id")
        return None
    return str(number)


def to_text(value: Any) -> str | None:
    """Trimmed text; blank → null. Numbers keep their exact text (decimals never in exponent
    form), booleans are `true`/`false`."""
    if value is None:
        return None
    if isinstance(value, str):
        return value.strip() or None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float | Decimal):
        return _decimal_text(value)
    return str(value).strip() or None


def _decimal_text(value: float | Decimal) -> str:
    exact = value if isinstance(value, Decimal) else Decimal(repr(value))
    return format(exact, "f")


def to_decimal_text(value: Any, table: str, column: str) -> str | None:
    """A number as exact decimal text (`1587.25` → `"1587.25"`); blank → null."""
    if _blank(value):
        return None
    if isinstance(value, bool):
        _invalid(table, column, value, "a number")
        return None
    if isinstance(value, int):
        return str(value)
    try:
        exact = Decimal(value.strip()) if isinstance(value, str) else value
        if isinstance(exact, float):
            exact = Decimal(repr(exact))
        if not isinstance(exact, Decimal) or not exact.is_finite():
            raise InvalidOperation
    except InvalidOperation:
        _invalid(table, column, value, "a number")
        return None
    return format(exact, "f")


def to_double(value: Any, table: str, column: str) -> float | None:
    """A float (double columns); blank → null; anything else → null + warning."""
    if _blank(value):
        return None
    if isinstance(value, bool):
        _invalid(table, column, value, "a number")
        return None
    try:
        return float(value.strip() if isinstance(value, str) else value)
    except (TypeError, ValueError):
        _invalid(table, column, value, "a number")
        return None


def to_bool(value: Any, table: str, column: str) -> bool | None:
    """A bool from a bool, `1`/`0`, or `true/1/yes` / `false/0/no` (any case); blank → null."""
    if _blank(value):
        return None
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    _invalid(table, column, value, "a boolean")
    return None


def api_time(value: Any) -> str | None:
    """An API date/time kept as text, with a trailing `Z` written `+00:00` (§9 projects)."""
    text = to_text(value)
    if text is not None and text[-1:] in ("Z", "z"):
        return text[:-1] + "+00:00"
    return text


def timestamp(moment: datetime) -> str:
    """A timestamp column value: `YYYY-MM-DDTHH:MM:SS.ffffffZ` (UTC)."""
    return iso_utc(moment)


def ingestion_timestamp(ingested_at: str) -> str:
    """An event's canonical 7-digit ingestion time as a timestamp value (µs, truncated)."""
    return iso_utc(ingested_datetime(ingested_at))


def date_of(moment: datetime) -> str:
    """A date column value: `YYYY-MM-DD`."""
    return moment.astimezone(UTC).date().isoformat()


def mapping(value: Any) -> Mapping[str, Any]:
    """`value` when it is a JSON object, else an empty one (absent or malformed sections)."""
    return value if isinstance(value, Mapping) else {}


def objects(value: Any) -> list[Mapping[str, Any]]:
    """The JSON objects of a list (absent or malformed lists give none)."""
    if not isinstance(value, list | tuple):
        return []
    return [item for item in value if isinstance(item, Mapping)]
