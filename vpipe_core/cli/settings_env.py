"""What the operations commands start from: the core settings and the effective environment,
or exit 2 with the configuration error."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from vpipe_core.config.core import CoreSettings


def core_settings_and_env(bootstrap: str | None) -> tuple[CoreSettings, dict[str, str]]:
    """`bootstrap` (a command's --bootstrap) overrides KAFKA_BOOTSTRAP_SERVERS."""
    from vpipe_core.config.core import CoreSettings
    from vpipe_core.config.environment import effective_environment
    from vpipe_core.config.loader import ConfigError, load_settings

    try:
        env = dict(effective_environment())
        if bootstrap:
            env["KAFKA_BOOTSTRAP_SERVERS"] = bootstrap
        return load_settings(CoreSettings, env), env
    except ConfigError as exc:
        click.echo(f"configuration error:\n{exc}", err=True)
        sys.exit(2)
