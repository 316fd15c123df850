"""The one configuration validation: `vpipe config check` and every worker start run it.

Beyond each settings class's own checks (`settings_problems`), a worker type can name a
`config_check` in its spec: the problems it would refuse to start with (an Eventhouse source
without a cluster URL, a cache directory systemd makes private), found without connecting
anywhere. The env file itself is checked too: under systemd, or when `config check` judges a
deployment, it must exist and must not be readable by other users.
"""

from __future__ import annotations

import importlib
import stat
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

from vpipe_core.config.environment import ENV_FILE_VARIABLE, EffectiveEnvironment, default_env_file
from vpipe_core.config.guards import settings_problems
from vpipe_core.config.loader import all_settings_classes
from vpipe_core.retry.topics import retry_delay_problems
from vpipe_core.spec import WorkerSpec

ConfigCheck = Callable[[Mapping[str, str], bool], list[str]]
SYSTEMD_MARKER = "INVOCATION_ID"  # systemd sets it for every service it starts
EVERY_WORKER = ("vpipe_core.azure_auth:config_problems",)


def under_systemd(env: Mapping[str, str]) -> bool:
    return SYSTEMD_MARKER in env


def configuration_problems(
    environment: EffectiveEnvironment,
    specs: Iterable[WorkerSpec],
    deployment: bool,
    classes: Mapping[str, type] | None = None,
) -> list[str]:
    """Every problem, all at once: the settings `classes` (default: every installed one), the
    env file (when `deployment`), and each worker type's own check."""
    env = environment.values
    problems = list(environment.problems)
    problems += settings_problems(all_settings_classes() if classes is None else classes, env)
    if deployment:
        problems += env_file_problems(environment.env_file)
    specs = list(specs)
    problems += retry_delay_problems((spec.domain for spec in specs), env)
    checks = [*EVERY_WORKER, *(spec.config_check for spec in specs if spec.config_check)]
    for name in dict.fromkeys(checks):
        problems += _run_check(name, env, deployment)
    return list(dict.fromkeys(problems))


def _run_check(name: str, env: Mapping[str, str], deployment: bool) -> list[str]:
    module_name, _, attribute = name.partition(":")
    check: ConfigCheck = getattr(importlib.import_module(module_name), attribute)
    return check(env, deployment)


def env_file_problems(env_file: Path | None) -> list[str]:
    if env_file is None:
        return [
            "no env file was read: pass --env-file FILE or set "
            f"{ENV_FILE_VARIABLE} (the default {default_env_file()} does not exist)"
        ]
    mode = stat.S_IMODE(env_file.stat().st_mode)
    if mode & 0o007:
        return [
            f"{env_file} is readable by other users (mode {mode:04o}); it holds secrets: "
            f"chmod o-rwx {env_file}"
        ]
    return []
