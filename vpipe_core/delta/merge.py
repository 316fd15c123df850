"""The MERGE clauses of a table, as SQL expression text for delta-rs (`s` = source, `t` = target).

Insert-only tables (`TableSpec.insert_only`) get no update clause. Otherwise two rule sets,
chosen by `TableSpec.partial_rows`:

Whole rows: a matched row is replaced by the source row when the source is newer or equal
by `order_column`; `keep_on_update` columns stay as inserted.

Partial rows (tables fed by several partial sources), per column `c` the source carries:
- ordinary: `s.c` when the source row carries `c` (its mask, `convert.mask_name`) and is not
  older by `order_column` (a source without an order value, e.g. a partial project row, makes
  no claim about its age and counts as newer); otherwise `t.c`. A full row's null does blank a
  stored value: the API no longer has it.
- `keep_existing`: `coalesce(t.c, s.c)` — once known, never changed nor blanked.
- `bookkeeping`: `s.c` — written with every update, never a reason for one.
- not carried by any source row: not mentioned, so never touched.
The matched row is updated only when some non-bookkeeping column changes (`IS DISTINCT FROM`),
and, with `update_if_changed`, only when that column differs or is null in the target. So a
replayed batch updates nothing, and a late older row changes nothing but what only it knows.
"""

from __future__ import annotations

from collections.abc import Mapping

import attrs

from vpipe_core.delta.convert import mask_name
from vpipe_core.delta.schema import TableSpec

Carried = Mapping[str, bool | None]
"""Per declared column: True = every source row carries it, None = some do (masked), False =
none do."""


@attrs.frozen
class MergePlan:
    predicate: str
    updates: dict[str, str]
    update_predicate: str | None
    inserts: dict[str, str]


def s(column: str) -> str:
    return f"s.`{column}`"


def t(column: str) -> str:
    return f"t.`{column}`"


def merge_plan(spec: TableSpec, carried: Carried | None = None) -> MergePlan:
    """The clauses for `spec`; `carried` is required for partial rows."""
    predicate = " AND ".join(f"{t(k)} = {s(k)}" for k in spec.merge_keys)
    inserts = {c: s(c) for c in spec.column_names}
    if spec.insert_only:
        return MergePlan(predicate, {}, None, inserts)
    if not spec.partial_rows:
        fixed = {*spec.merge_keys, *spec.keep_on_update}
        updates = {c: s(c) for c in spec.column_names if c not in fixed}
        return MergePlan(predicate, updates, _newer_or_equal(spec), inserts)
    if carried is None:
        raise ValueError(f"table {spec.name}: partial rows need the carried columns")
    updates = _partial_updates(spec, carried)
    if all(column in spec.bookkeeping for column in updates):
        return MergePlan(predicate, {}, None, inserts)  # nothing but bookkeeping to update
    return MergePlan(predicate, updates, _changed(spec, updates), inserts)


def _newer_or_equal(spec: TableSpec) -> str | None:
    if spec.order_column is None:
        return None
    column = spec.order_column
    return f"{s(column)} >= {t(column)} OR {t(column)} IS NULL"


def _partial_updates(spec: TableSpec, carried: Carried) -> dict[str, str]:
    fixed = {*spec.merge_keys, *spec.keep_on_update}
    order = spec.order_column
    not_older = (
        f"({s(order)} IS NULL OR {t(order)} IS NULL OR {s(order)} >= {t(order)})" if order else None
    )
    updates: dict[str, str] = {}
    for column in spec.column_names:
        state = carried.get(column, False)
        if column in fixed or state is False:
            continue
        mask = s(mask_name(column)) if state is None else None
        if column in spec.keep_existing:
            updates[column] = f"coalesce({t(column)}, {s(column)})"  # uncarried: s is null
        elif column in spec.bookkeeping:
            updates[column] = _when([mask], column)
        else:
            updates[column] = _when([mask, not_older], column)
    return updates


def _when(conditions: list[str | None], column: str) -> str:
    present = [c for c in conditions if c]
    if not present:
        return s(column)
    return f"CASE WHEN {' AND '.join(present)} THEN {s(column)} ELSE {t(column)} END"


def _changed(spec: TableSpec, updates: dict[str, str]) -> str:
    changes = [
        f"(({expression}) IS DISTINCT FROM {t(column)})"
        for column, expression in updates.items()
        if column not in spec.bookkeeping
    ]
    changed = f"({' OR '.join(changes)})"
    if spec.update_if_changed is None:
        return changed
    column = spec.update_if_changed
    return f"{changed} AND ({s(column)} <> {t(column)} OR {t(column)} IS NULL)"
