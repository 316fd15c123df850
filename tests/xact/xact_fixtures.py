"""The XACT fixture rows, as the poller would see them (the `_case` notes removed): the sample
events the plugin ships (`vpipe_xact/data/xact_events.jsonl`), one copy for the demo's sample
source and the tests."""

from __future__ import annotations

import json

import orjson

from vpipe_xact.poller import POLLER

FIXTURES = POLLER.bundled_events_file()


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
