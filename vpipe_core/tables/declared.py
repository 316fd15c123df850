"""The tables each domain declares for maintenance: the `vpipe.tables` entry points.

A domain distribution registers, under its domain name, a sequence of `MaintainedTable`; each
names the setting that holds the table's URI, so maintenance finds the same table as the writer.
"""

from __future__ import annotations

import importlib.metadata
from collections.abc import Mapping, Sequence

import attrs

from vpipe_core.delta.schema import TableSpec

TABLES_NAMESPACE = "vpipe.tables"


class UnknownTable(ValueError):
    """A table name that no installed domain declares."""


@attrs.frozen
class MaintainedTable:
    """`z_order`: columns compaction clusters by (point lookups and the merge's file skipping
    read their min/max statistics); empty: plain bin-packing."""

    spec: TableSpec
    uri_setting: str
    z_order: tuple[str, ...] = ()

    def __attrs_post_init__(self) -> None:
        unknown = [c for c in self.z_order if c not in self.spec.column_names]
        if unknown:
            raise ValueError(f"table {self.spec.name}: z_order names undeclared columns {unknown}")
        partitioning = [c for c in self.z_order if c in self.spec.partition_by]
        if partitioning:
            raise ValueError(
                f"table {self.spec.name}: z_order names partition columns {partitioning} "
                "(each partition holds one value of them)"
            )

    @property
    def name(self) -> str:
        return self.spec.name


@attrs.frozen
class Target:
    """A declared table and where it is (`uri` None: its setting is not set)."""

    domain: str
    table: MaintainedTable
    uri: str | None


def declared_tables(domain: str | None = None) -> list[tuple[str, MaintainedTable]]:
    """(domain, table) for every installed domain, or only `domain`'s."""
    found: list[tuple[str, MaintainedTable]] = []
    for entry_point in importlib.metadata.entry_points(group=TABLES_NAMESPACE):
        if domain is not None and entry_point.name != domain:
            continue
        tables: Sequence[MaintainedTable] = entry_point.load()
        found.extend((entry_point.name, table) for table in tables)
    return sorted(found, key=lambda item: (item[0], item[1].name))


def targets(
    env: Mapping[str, str], domain: str | None = None, names: Sequence[str] = ()
) -> list[Target]:
    """The declared tables with their URIs from `env`; `names` selects some (UnknownTable when
    one is not declared)."""
    declared = declared_tables(domain)
    known = {table.name for _, table in declared}
    unknown = sorted(set(names) - known)
    if unknown:
        raise UnknownTable(
            f"no declared table named {', '.join(unknown)}; declared: {', '.join(sorted(known))}"
        )
    return [
        Target(domain_name, table, env.get(table.uri_setting) or None)
        for domain_name, table in declared
        if not names or table.name in names
    ]
