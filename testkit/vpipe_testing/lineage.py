"""Asking `vpipe trace` (the real CLI, `--json`) about a test pipeline, and what its answers
hold: the places of an event, its retries and dead letters."""

from __future__ import annotations

import subprocess
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Any

import orjson

from vpipe_core.lineage.carry import parent_of
from vpipe_core.lineage.traceparent import trace_id_of
from vpipe_core.record import Record
from vpipe_testing.delta import wait_committed
from vpipe_testing.kafka import read_all
from vpipe_testing.workers import run_vpipe


def trace(root: Path, bootstrap: str, env: dict[str, str], *args: str) -> dict[str, Any]:
    """`vpipe trace ARGS --json` as an operator runs it; the story and its exit code."""
    done: subprocess.CompletedProcess[str] = run_vpipe(
        root, bootstrap, "trace", *args, "--window", "1h", "--json", timeout_s=120.0, **env
    )
    assert done.stdout, done.stderr
    return {**orjson.loads(done.stdout), "exit": done.returncode, "stderr": done.stderr}


def places(story: dict[str, Any]) -> set[str]:
    """Topics (without position) and tables the story's hops are in."""
    return {hop["where"].rpartition("[")[0] or hop["where"] for hop in story["hops"]}


def positions(story: dict[str, Any]) -> set[str]:
    return {hop["where"] for hop in story["hops"] if hop["kind"] == "topic"}


def landed(story: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The story's file hops by blob path."""
    return {hop["detail"]["blob_path"]: hop for hop in story["hops"] if hop["kind"] == "file"}


def rows_of(story: dict[str, Any], table: str) -> list[dict[str, Any]]:
    return [hop["detail"] for hop in story["hops"] if hop["where"] == table]


def detours(bootstrap: str, topics: list[str]) -> dict[str, tuple[str, bool]]:
    """Every traced record of `topics` (retry tiers, the DLQ): position -> (W3C trace id,
    whether it names its event: a key, which the source row may lack)."""
    found = {}
    for topic in topics:
        for message in read_all(bootstrap, topic, idle_s=2):
            record = Record.from_message(message)
            trace_id = trace_id_of(parent_of(record))
            if trace_id is not None:
                found[record.position] = (trace_id, bool(record.key))
    return found


def on_the_way(
    root: Path,
    bootstrap: str,
    env: dict[str, str],
    stories: list[dict[str, Any]],
    topics: list[str],
) -> dict[str, tuple[str, bool]]:
    """Every retry and dead letter is in the story of the event it belongs to: found by the
    event's id, or by its W3C trace id when the source gave the event no id."""
    records = detours(bootstrap, topics)
    seen = set().union(*(positions(story) for story in stories))
    for position, (trace_id, named) in records.items():
        if position in seen:
            continue
        assert not named, (position, "not in the story of its event")
        story = trace(root, bootstrap, env, "--trace-id", trace_id)
        assert story["exit"] == 0, (position, story["stuck"], story)
        assert position in positions(story), (position, story)
    return records


def wait_processed(
    bootstrap: str, raw_topic: str, keys: Collection[str], groups: Sequence[tuple[str, str]]
) -> None:
    """The events keyed `keys` are in `raw_topic`, then each (group, topic), upstream first,
    has committed its topic to the end: every live stage has handled them."""
    wanted = {key.encode() for key in keys}
    published = read_all(
        bootstrap,
        raw_topic,
        timeout_s=120,
        until=lambda messages: wanted <= {m.key() for m in messages},
    )
    assert wanted <= {m.key() for m in published}, f"{keys} not polled into {raw_topic}"
    for group, topic in groups:
        assert wait_committed(bootstrap, group, topic, timeout_s=120), f"{group} on {topic}"
