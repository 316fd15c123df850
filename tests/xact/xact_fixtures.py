"""The shared XACT fixture rows, as the poller would see them (the `_case` notes removed)."""

from __future__ import annotations

import json
from pathlib import Path

import orjson

SPEC = Path(__file__).resolve().parents[3] / "shared" / "spec"
FIXTURES = SPEC / "fixtures" / "xact_events.jsonl"


def fixture_rows() -> list[dict]:
    rows = []
    for line in FIXTURES.read_text().splitlines():
        row = json.loads(line)
        row.pop("_case", None)
        rows.append(row)
    return rows


def fixture_bytes(number: int) -> bytes:
    """Row `number` (1-based, as the spec counts) as raw event bytes."""
    return orjson.dumps(fixture_rows()[number - 1])
