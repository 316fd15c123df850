"""The handler contract: every consumed record ends in exactly one outcome."""

from __future__ import annotations

import enum
from collections.abc import Sequence
from datetime import datetime

import attrs

Headers = list[tuple[str, bytes]]


class Category(enum.StrEnum):
    """Why a record failed; carried in `vpipe_error_category`."""

    TRANSIENT = "transient"
    AUTH = "auth"
    PERMANENT = "permanent"


@attrs.define(slots=True)
class Output:
    """One record to produce. `value` bytes are sent as they are (never re-encoded). A slotted
    class, not a NamedTuple: handlers build one per record, and this is the faster of the two.

    A record handler may return an `Output` itself as its outcome: it means `Done((output,))`,
    and saves building the `Done` and its tuple, a measurable share of a light handler's cost."""

    topic: str
    value: bytes | None
    key: bytes | None = None
    headers: Headers | None = None
    # The partition to write to, else the producer's choice by key (a changelog entry goes to
    # the partition of the input record that made it, whatever its key's hash).
    partition: int | None = None


@attrs.define(slots=True)
class Done:
    """Handled: produce `outputs`, then the record may be committed."""

    outputs: Sequence[Output] = ()


@attrs.define(slots=True)
class Retry:
    """Failed for now: retry through the domain's tiers, or in place for in-place workers."""

    error: str
    category: Category = Category.TRANSIENT
    not_before: datetime | None = None  # e.g. from a Retry-After header
    if_exhausted: Sequence[Output] = ()  # produced only when this failure ends in the DLQ


@attrs.define(slots=True)
class Dead:
    """Failed for good: the original bytes go to `<domain>.dlq` with the reason."""

    error: str
    category: Category = Category.PERMANENT
    reason: str = "permanent"
    outputs: Sequence[Output] = ()  # produced with the DLQ record (e.g. a failure result)


@attrs.define(slots=True)
class Defer:
    """Not yet due: leave the record unconsumed and look at it again at `until` (scheduler)."""

    until: datetime


Outcome = Done | Retry | Dead | Defer | Output  # an Output is Done with that one output
