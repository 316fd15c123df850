"""The ClaimX fixture rows (claimx.md §13) as the poller would see them (`_case` removed)."""

from __future__ import annotations

import json
from importlib import resources

import orjson

from vpipe_claimx.events import raw_message

# claimx.md §5: the event ids the spec lists for fixture rows (row number -> event_id).
SPEC_IDS = {
    1: "a91e8944bc989f060ac076e502f30615dfef43502d35553d70452fb84f64d761",
    2: "98bcd9f2114c6aad4f45fcd817a9fcadda66b892d42ae27f3a9ae30b6a6ac37d",
    4: "15a105d69674e2896abe44a8b5d69d82f04156149168beeb0764c199e1000432",
    8: "e4cc429c7aa95633e081c603d41561cf90ae0b6b60ba46c715455b10bf0b750d",
    13: "dd0ffa2648ae037be00890193a45621423c727a41e9258c8cc05469cc5f557d3",
    14: "4b7843c411a8af2b74c262ca37c34e18193c414a2fadd5aae0220bc93cc88909",
    16: "15a105d69674e2896abe44a8b5d69d82f04156149168beeb0764c199e1000432",
    21: "cx-src-000000123",
}


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
