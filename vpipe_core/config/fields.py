"""Declaring a setting: an attrs field that knows its environment variable and expected form."""

from __future__ import annotations

from typing import Any

import attrs

ENV = "vpipe_env"
SECRET = "vpipe_secret"
HELP = "vpipe_help"
MIN = "vpipe_min"
MAX = "vpipe_max"
# A variable name with a `*` is a domain's: `*` stands for its settings class's `ENV_PREFIX`
# (a base class shared by several domains declares such fields once: `*_EVENTHUB_NAME`).
DOMAIN_MARK = "*"
PREFIX_ATTRIBUTE = "ENV_PREFIX"


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


def replaced_by(replacement: str) -> str:
    """A retired variable's reason (`RETIRED_VARIABLES`, `config.guards`): what replaced it."""
    return f"no longer read, use {replacement}"


def with_domain_prefix(cls: type, field: attrs.Attribute) -> attrs.Attribute:
    """`field` with the `*` of its variable replaced by `cls.ENV_PREFIX` (`*_NAME` read as
    `<ENV_PREFIX>_NAME`); TypeError when the class declares no prefix."""
    name = env_name(field)
    if DOMAIN_MARK not in name:
        return field
    prefix = getattr(cls, PREFIX_ATTRIBUTE, None)
    if not prefix:
        raise TypeError(f"{cls.__name__}: {name} needs the class attribute {PREFIX_ATTRIBUTE}")
    return field.evolve(metadata={**field.metadata, ENV: name.replace(DOMAIN_MARK, prefix)})
