"""Reading a record value that must be one JSON object."""

from __future__ import annotations

from typing import Any

import orjson


def json_object(
    raw: bytes | str | None, invalid: type[ValueError], what: str = ""
) -> dict[str, Any]:
    """`raw` as a JSON object, else `invalid` saying what it is (`what`: the value's name)."""
    prefix = f"{what}: " if what else ""
    try:
        loaded = orjson.loads(raw or b"")
    except orjson.JSONDecodeError as exc:
        raise invalid(f"{prefix}not JSON: {exc}") from None
    if not isinstance(loaded, dict):
        raise invalid(f"{prefix}expected a JSON object, got {type(loaded).__name__}")
    return loaded
