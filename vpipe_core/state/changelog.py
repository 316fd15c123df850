"""The changelog topic of a worker's key store: its name, its window, its entries, and the
check that it has as many partitions as the input topic it follows.

An entry is one record per key, keyed by the key, written to the partition of the input record
that produced it (never the key's hash), valued `{"seen_at", "partition", "offset"}`: when the
key was seen and the input record it came from, so that record handled again is not its own
duplicate."""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

import orjson

from vpipe_core.spec import WorkerSpec

MARGIN_HOURS = 24  # kept on the topic past the window: a late restore still finds its entries


class Entry(NamedTuple):
    """A named tuple: built once per event, and a tuple of numbers is untracked by the garbage
    collector, so a window of a million entries adds nothing to each full collection."""

    seen_at: float  # epoch seconds
    offset: int  # of the input record that marked the key, in the entry's partition


def changelog_topic(spec: WorkerSpec) -> str:
    """`<input topic>.<worker>.changelog`, for a worker with one input topic."""
    if len(spec.input_topics) != 1:
        raise ValueError(
            f"{spec.name}: a changelog follows one input topic, the spec has "
            f"{list(spec.input_topics)}"
        )
    return f"{spec.input_topics[0]}.{spec.name}.changelog"


def window_hours(spec: WorkerSpec, env: Mapping[str, str]) -> int:
    """The spec's window, or the setting named by `changelog_hours_setting` when it is set."""
    setting = spec.changelog_hours_setting
    raw = env.get(setting, "").strip() if setting else ""
    if not raw:
        return spec.changelog_hours
    if not raw.isdigit() or int(raw) < 1:
        raise ValueError(f"{setting}: got {raw!r}, expected a positive number of hours")
    return int(raw)


def retention_hours(spec: WorkerSpec, env: Mapping[str, str]) -> int:
    return window_hours(spec, env) + MARGIN_HOURS


def encode(partition: int, entry: Entry) -> bytes:
    return orjson.dumps({"seen_at": entry.seen_at, "partition": partition, "offset": entry.offset})


def decode(value: bytes) -> Entry:
    fields = orjson.loads(value)
    return Entry(float(fields["seen_at"]), int(fields["offset"]))


def partition_mismatches(specs: list[WorkerSpec], partitions: Mapping[str, int]) -> list[str]:
    """One line per changelog whose partition count differs from its input topic's
    (`partitions`: topic -> partition count, of the topics that exist)."""
    problems = []
    for spec in specs:
        if not spec.changelog_hours:
            continue
        source, changelog = spec.input_topics[0], changelog_topic(spec)
        ours, theirs = partitions.get(changelog), partitions.get(source)
        if ours is not None and theirs is not None and ours != theirs:
            problems.append(
                f"changelog topic '{changelog}' has {ours} partitions but its input topic "
                f"'{source}' has {theirs}: the state of input partition p is kept in changelog "
                f"partition p. Delete '{changelog}' and create it again with {theirs} partitions "
                "(`vpipe topics create`); its entries are rebuilt as records arrive"
            )
    return problems
