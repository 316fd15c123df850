"""Source fields that go by several names: the first one with a value wins.

Eventhouse tables have a fixed set of columns, so a row that carries an id under an alias
(`trace_id`) still has the primary column (`traceId`), null or empty. A missing key, null, an
empty or blank string all mean "not here, try the next name".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


def first_present(row: Mapping[str, Any], names: Sequence[str]) -> Any:
    """The value of the first of `names` that `row` has with a value, else None."""
    for name in names:
        value = row.get(name)
        if value is None:
            continue
        if isinstance(value, str) and not value.strip():
            continue
        return value
    return None
