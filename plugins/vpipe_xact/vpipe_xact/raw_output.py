"""A raw event as the poller publishes it to `xact.events.raw` (xact.md §1, §6)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from vpipe_core.outcome import Output
from vpipe_xact.topics import RAW

JSON_OPTIONS = orjson.OPT_UTC_Z | orjson.OPT_NAIVE_UTC


def raw_event_output(value: Mapping[str, Any], trace_id: str | None) -> Output:
    """`value` as JSON, keyed and headed by `trace_id` (no key and no header without one).

    Values orjson cannot write natively (decimals, timespans) are written as their text."""
    data = orjson.dumps(dict(value), default=str, option=JSON_OPTIONS)
    if not trace_id:
        return Output(RAW, data)
    key = trace_id.encode()
    return Output(RAW, data, key, [("trace_id", key)])
