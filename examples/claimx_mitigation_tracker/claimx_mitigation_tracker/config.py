"""The plugin's ``[config]`` table (structured and validated by the core when the plugin loads)."""

from __future__ import annotations

import re
from typing import Any

import attrs

from claimx_mitigation_tracker import DEFAULT_TOPIC

_TOPIC_NAME = re.compile(r"^[A-Za-z0-9._-]{1,249}$")


def _check_topic(_: Any, attribute: attrs.Attribute[Any], value: str) -> None:
    if not _TOPIC_NAME.match(value):
        raise ValueError(f"{attribute.name} {value!r} is not a valid Kafka topic name")


def _check_source(_: Any, attribute: attrs.Attribute[Any], value: str) -> None:
    if not value.strip():
        raise ValueError(f"{attribute.name} must not be empty")


@attrs.frozen
class MitigationConfig:
    """Attributes:
    topic: where the records go (created by ``vpipe topics create``).
    source: the record's ``source`` field.
    """

    topic: str = attrs.field(default=DEFAULT_TOPIC, validator=_check_topic)
    source: str = attrs.field(default="vpipe.claimx-enricher", validator=_check_source)
