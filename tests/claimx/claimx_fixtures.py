"""The ClaimX fixture rows (claimx.md §13) as the poller would see them (`_case` removed)."""

from __future__ import annotations

import json
from importlib import resources

import orjson

from vpipe_claimx.events import raw_message


def fixture_rows() -> list[dict]:
    text = resources.files("vpipe_claimx").joinpath("data/claimx_events.jsonl").read_text()
    rows = []
    for line in text.splitlines():
        row = json.loads(line)
        row.pop("_case", None)
        rows.append(row)
    return rows


def fixture_row(number: int) -> dict:
    """Row `number`, 1-based as the spec counts."""
    return fixture_rows()[number - 1]


def raw_bytes(number: int) -> bytes:
    """Row `number` as the poller publishes it on claimx.events.raw."""
    return orjson.dumps(raw_message(fixture_row(number)))
