"""The plugin's ``[config]`` table: triggers, each the actions for one status subtype.

The core structures the table into `StatusTriggerConfig` when the plugin loads: unknown keys and
values of the wrong type are rejected there, and the validators below reject the rest (a trigger
that does nothing, a URL that is not http(s), a template field that does not exist, ...).
"""

from __future__ import annotations

import re
import string
from typing import Any
from urllib.parse import urlsplit

import attrs

MATCH_ALL = "*"

#: Fields a ``log`` template may use.
TEMPLATE_FIELDS = frozenset(
    {"status", "event_id", "trace_id", "assignment_id", "estimate_version", "attachment_count"}
)

#: The core's per-plugin timeout (`PluginSet.run`'s default). A call that takes longer loses its
#: publishes, so every webhook of one event must be done well within it.
CORE_PLUGIN_TIMEOUT_S = 10.0

MAX_WEBHOOK_RETRIES = 5

_TOPIC_NAME = re.compile(r"^[A-Za-z0-9._-]{1,249}$")
_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")


def _check_status(_: Any, attribute: attrs.Attribute[Any], value: str) -> None:
    if not value or value != value.strip():
        raise ValueError(
            f"{attribute.name} must be a status subtype or '{MATCH_ALL}' (no padding), "
            f"got {value!r}"
        )


def _check_topic(_: Any, attribute: attrs.Attribute[Any], value: str | None) -> None:
    if value is not None and not _TOPIC_NAME.match(value):
        raise ValueError(f"{attribute.name} {value!r} is not a valid Kafka topic name")


def _check_url(_: Any, attribute: attrs.Attribute[Any], value: str) -> None:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{attribute.name} must be an http(s) URL with a host, got {value!r}")


def _check_timeout(_: Any, attribute: attrs.Attribute[Any], value: float) -> None:
    if not 0 < value < CORE_PLUGIN_TIMEOUT_S:
        raise ValueError(
            f"{attribute.name} must be above 0 and below the core's per-plugin timeout "
            f"({CORE_PLUGIN_TIMEOUT_S:g}s), got {value}"
        )


def _check_retries(_: Any, attribute: attrs.Attribute[Any], value: int) -> None:
    if not 0 <= value <= MAX_WEBHOOK_RETRIES:
        raise ValueError(f"{attribute.name} must be 0..{MAX_WEBHOOK_RETRIES}, got {value}")


def _check_headers(_: Any, attribute: attrs.Attribute[Any], value: dict[str, str]) -> None:
    for name, text in value.items():
        if not _HEADER_NAME.match(name):
            raise ValueError(f"{attribute.name}: {name!r} is not a valid HTTP header name")
        if "\r" in text or "\n" in text:
            raise ValueError(f"{attribute.name}: the value of {name!r} contains a line break")


def template_problem(template: str) -> str | None:
    """Why `template` cannot be rendered with `TEMPLATE_FIELDS`, or ``None`` when it can."""
    try:
        names = [name for _, name, _, _ in string.Formatter().parse(template) if name is not None]
    except ValueError as error:
        return f"malformed template {template!r}: {error}"
    unknown = sorted({name for name in names if name not in TEMPLATE_FIELDS})
    if unknown:
        allowed = ", ".join("{" + name + "}" for name in sorted(TEMPLATE_FIELDS))
        shown = ", ".join("{" + name + "}" for name in unknown)
        return f"template {template!r} uses unknown field(s) {shown}; allowed: {allowed}"
    return None


def _check_template(_: Any, attribute: attrs.Attribute[Any], value: str | None) -> None:
    problem = None if value is None else template_problem(value)
    if problem:
        raise ValueError(f"{attribute.name}: {problem}")


@attrs.frozen
class WebhookConfig:
    """Where to POST the notification of a trigger.

    Attributes:
        url: an http(s) URL (``${VAR}`` references are expanded by the core).
        timeout_s: the limit of one attempt (connect plus response).
        headers: extra request headers, e.g. ``Authorization``.
        retries: further attempts after a 5xx answer or a connection that could not be opened.
    """

    url: str = attrs.field(validator=_check_url)
    timeout_s: float = attrs.field(default=2.0, validator=_check_timeout)
    headers: dict[str, str] = attrs.field(factory=dict, validator=_check_headers)
    retries: int = attrs.field(default=2, validator=_check_retries)


@attrs.frozen
class TriggerConfig:
    """What to do for events of one status subtype.

    Attributes:
        status: the ``status_subtype`` to match exactly (``estimateCreated``, ``delivered``), or
            ``"*"`` for every event.
        publish_to_topic: publish the notification to this topic.
        webhook: POST the notification to this endpoint.
        log: log this template (fields: `TEMPLATE_FIELDS`).
    """

    status: str = attrs.field(validator=_check_status)
    publish_to_topic: str | None = attrs.field(default=None, validator=_check_topic)
    webhook: WebhookConfig | None = None
    log: str | None = attrs.field(default=None, validator=_check_template)

    def __attrs_post_init__(self) -> None:
        if self.publish_to_topic is None and self.webhook is None and not self.log:
            raise ValueError(
                f"trigger for status {self.status!r} does nothing: "
                "set publish_to_topic, webhook or log"
            )

    def matches(self, status_subtype: str) -> bool:
        return self.status == MATCH_ALL or self.status == status_subtype


@attrs.frozen
class StatusTriggerConfig:
    """The whole ``[config]`` table; without a config file there are no triggers.

    Attributes:
        triggers: checked in order; every matching trigger acts.
        webhook_budget_s: the time all webhook calls of one event may take together, retries
            and pauses included; attempts stop when it is spent.
    """

    triggers: tuple[TriggerConfig, ...] = ()
    webhook_budget_s: float = attrs.field(default=5.0, validator=_check_timeout)

    def matching(self, status_subtype: str) -> tuple[TriggerConfig, ...]:
        return tuple(trigger for trigger in self.triggers if trigger.matches(status_subtype))

    def topics(self) -> list[str]:
        """The topics the triggers publish to, sorted, once each."""
        return sorted({t.publish_to_topic for t in self.triggers if t.publish_to_topic})
