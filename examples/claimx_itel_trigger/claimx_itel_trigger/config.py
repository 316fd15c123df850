"""The plugin's ``[config]`` table (structured and validated by the core when the plugin loads)."""

from __future__ import annotations

import string
from typing import Any

import attrs

DEFAULT_TASK_IDS = (27019,)
DEFAULT_TRIGGER_NAME = "itel_cabinet_repair"
DEFAULT_LOG = (
    "iTel cabinet task {task_status}: event {event_id}, task {task_id}, assignment {assignment_id}"
)

#: Fields a ``log`` template may use: what the ClaimX context offers as template fields.
TEMPLATE_FIELDS = frozenset(
    {
        "event_id",
        "event_type",
        "project_id",
        "task_id",
        "task_name",
        "task_status",
        "assignment_id",
        "ingested_at",
        "attempt",
        "now",
    }
)


def _check_task_ids(_: Any, attribute: attrs.Attribute[Any], value: tuple[int, ...]) -> None:
    if not value:
        raise ValueError(f"{attribute.name} must list at least one task template id")
    bad = [item for item in value if isinstance(item, bool) or item <= 0]
    if bad:
        raise ValueError(f"{attribute.name} must be positive template ids, got {bad}")


def _check_name(_: Any, attribute: attrs.Attribute[Any], value: str) -> None:
    if not value.strip():
        raise ValueError(f"{attribute.name} must not be empty")


def _check_template(_: Any, attribute: attrs.Attribute[Any], value: str) -> None:
    try:
        names = {name for _, name, _, _ in string.Formatter().parse(value) if name is not None}
    except ValueError as error:
        raise ValueError(f"{attribute.name}: malformed template {value!r}: {error}") from None
    unknown = sorted(names - TEMPLATE_FIELDS)
    if unknown:
        raise ValueError(
            f"{attribute.name}: template {value!r} uses unknown field(s) {unknown}; "
            f"allowed: {sorted(TEMPLATE_FIELDS)}"
        )


@attrs.frozen
class ItelTriggerConfig:
    """What the trigger matches and how it names itself.

    Attributes:
        task_ids: the task template ids (``tasks[0].task_id``) of the iTel cabinet form. The
            only place the id is checked: the tracking worker trusts the trigger.
        trigger_name: sent as ``trigger_name`` and in the ``x-trigger-name`` header.
        log: logged for each published record (fields: `TEMPLATE_FIELDS`).
    """

    task_ids: tuple[int, ...] = attrs.field(default=DEFAULT_TASK_IDS, validator=_check_task_ids)
    trigger_name: str = attrs.field(default=DEFAULT_TRIGGER_NAME, validator=_check_name)
    log: str = attrs.field(default=DEFAULT_LOG, validator=_check_template)

    def matches(self, task_id: object) -> bool:
        return str(task_id) in {str(item) for item in self.task_ids}
