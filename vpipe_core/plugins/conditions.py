"""`Conditions`: a plugin's cheap declarative pre-filter on context fields, checked before its
``vpipe_enrich`` is called."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, Literal

import attrs

if TYPE_CHECKING:
    from vpipe_core.plugins.types import EnrichmentContext

#: Context fields a `Conditions` clause may test.
CONDITION_FIELDS = frozenset(
    {
        "domain",
        "stage",
        "event_type",
        "event_id",
        "project_id",
        "task_id",
        "task_status",
        "task_name",
        "assignment_id",
    }
)
Operator = Literal["equals", "not_equals", "in", "not_in"]
CONDITION_OPERATORS: tuple[Operator, ...] = ("equals", "not_equals", "in", "not_in")


def _comparable(value: Any) -> Any:
    """Ints and strings compare by their text, so a config's 27019 matches an event's "27019"."""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value


@attrs.frozen
class Condition:
    """One test of a context field.

    Attributes:
        field: one of `CONDITION_FIELDS`; a field the event does not have reads as ``None``.
        operator: ``equals``, ``not_equals``, ``in`` or ``not_in``.
        expected: the value for ``equals``/``not_equals``, a tuple of values for ``in``/``not_in``.
    """

    field: str
    operator: Operator
    expected: Any

    @classmethod
    def from_dict(cls, clause: Mapping[str, Any]) -> Condition:
        """Build from ``{"field": ..., "<operator>": ...}``; anything else is a `ValueError`."""
        if not isinstance(clause, Mapping):
            raise ValueError(f"a condition must be a table, got {clause!r}")
        unknown = sorted(set(clause) - {"field", *CONDITION_OPERATORS})
        if unknown:
            raise ValueError(f"unknown condition key(s) {', '.join(unknown)} in {dict(clause)!r}")
        field = clause.get("field")
        if field not in CONDITION_FIELDS:
            allowed = ", ".join(sorted(CONDITION_FIELDS))
            raise ValueError(f"condition field {field!r} is not one of: {allowed}")
        operators = [name for name in CONDITION_OPERATORS if name in clause]
        if len(operators) != 1:
            raise ValueError(f"condition on {field!r} needs exactly one of {CONDITION_OPERATORS}")
        operator = operators[0]
        expected = clause[operator]
        if operator in ("in", "not_in"):
            if isinstance(expected, (str, bytes)) or not isinstance(expected, Iterable):
                raise ValueError(f"condition '{operator}' on {field!r} needs a list of values")
            expected = tuple(expected)
        return cls(field=field, operator=operator, expected=expected)

    def matches(self, ctx: EnrichmentContext) -> bool:
        actual = _comparable(ctx.get(self.field))
        if self.operator == "equals":
            return bool(actual == _comparable(self.expected))
        if self.operator == "not_equals":
            return bool(actual != _comparable(self.expected))
        is_member = actual in tuple(_comparable(value) for value in self.expected)
        return is_member if self.operator == "in" else not is_member


@attrs.frozen
class Conditions:
    """A cheap declarative pre-filter checked before a plugin's ``vpipe_enrich`` is called.

    Written as ``{"any": [clause, ...]}`` or ``{"all": [clause, ...]}`` where a clause is
    ``{"field": "task_id", "in": [27019]}`` (see `Condition`).

    Attributes:
        mode: ``"any"`` (at least one clause holds) or ``"all"`` (every clause holds).
        clauses: the tests, at least one.
    """

    mode: Literal["any", "all"]
    clauses: tuple[Condition, ...]

    @classmethod
    def from_dict(cls, spec: Mapping[str, Any]) -> Conditions:
        """Validate and build; a malformed spec raises `ValueError` saying what is wrong."""
        if (
            not isinstance(spec, Mapping)
            or len(spec) != 1
            or next(iter(spec)) not in ("any", "all")
        ):
            raise ValueError(
                f"conditions must be {{'any': [...]}} or {{'all': [...]}}, got {spec!r}"
            )
        mode: Literal["any", "all"] = "any" if "any" in spec else "all"
        raw_clauses = spec[mode]
        if isinstance(raw_clauses, (str, bytes, Mapping)) or not isinstance(raw_clauses, Iterable):
            raise ValueError(f"conditions '{mode}' must be a list of conditions")
        clauses = tuple(Condition.from_dict(clause) for clause in raw_clauses)
        if not clauses:
            raise ValueError(f"conditions '{mode}' must list at least one condition")
        return cls(mode=mode, clauses=clauses)

    def matches(self, ctx: EnrichmentContext) -> bool:
        results = (clause.matches(ctx) for clause in self.clauses)
        return any(results) if self.mode == "any" else all(results)
