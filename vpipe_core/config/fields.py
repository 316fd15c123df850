"""Declaring a setting: an attrs field that knows its environment variable and expected form."""

from __future__ import annotations

from typing import Any

import attrs

ENV = "vpipe_env"
SECRET = "vpipe_secret"
HELP = "vpipe_help"
MIN = "vpipe_min"
MAX = "vpipe_max"


def setting(
    env: str,
    default: Any = attrs.NOTHING,
    *,
    help: str,
    secret: bool = False,
    min: float | None = None,
    max: float | None = None,
) -> Any:
    """An attrs field read from environment variable `env`.

    The field's annotation gives the form (int, float, bool, str, Path, an Enum, `tuple[int, ...]`,
    `tuple[str, ...]`, or `X | None` for optional); `min`/`max` bound numbers (and each list item).
    No default means the variable is required.
    """
    metadata = {ENV: env, SECRET: secret, HELP: help, MIN: min, MAX: max}
    if isinstance(default, (list, dict, set)):
        raise TypeError("use a tuple for list defaults")
    return attrs.field(default=default, metadata=metadata)


def env_name(field: attrs.Attribute) -> str:
    return str(field.metadata[ENV])


def is_secret(field: attrs.Attribute) -> bool:
    return bool(field.metadata.get(SECRET))
