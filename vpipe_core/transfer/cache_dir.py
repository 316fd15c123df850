"""The download worker's startup check of `CACHE_DIR` (runtime.md §11): writable, and never
under a private /tmp.

Units run with `PrivateTmp=true`, which gives every unit its own /tmp and /var/tmp, emptied at
every stop and often a small tmpfs: large downloads would fill it, and the free-space guard
would watch the wrong disk. Under systemd (which sets INVOCATION_ID for every service it starts)
such a cache dir is refused; elsewhere (tests, the demo, a shell) it is only warned about.
"""

from __future__ import annotations

import logging
import os
import pwd
import tempfile
from collections.abc import Mapping
from pathlib import Path

from vpipe_core.config.loader import ConfigError

log = logging.getLogger("vpipe.transfer.cache")

PRIVATE_TMP_ROOTS = (Path("/tmp"), Path("/var/tmp"))


def cache_dir_problems(env: Mapping[str, str], deployment: bool) -> list[str]:
    """The download worker's `config_check`: under systemd (`deployment`) the cache must not be
    in a private /tmp. (Writability is checked at start, as the service user.)"""
    from vpipe_core.config.core import CoreSettings
    from vpipe_core.config.loader import load_settings

    try:
        path = load_settings(CoreSettings, env).cache_dir
    except ConfigError:
        return []  # reported by the settings check
    if deployment and _under_private_tmp(path):
        return [
            f"CACHE_DIR={path} is under /tmp or /var/tmp, which systemd makes private per "
            "unit and emptied at every stop (PrivateTmp=true). Use a persistent local "
            "path such as /var/lib/kafka-pipeline/cache"
        ]
    return []


def check_cache_dir(path: Path) -> None:
    """Create `path` if missing; ConfigError when it is not writable. (A cache under /tmp is
    refused under systemd by `cache_dir_problems`, before this runs.)"""
    if _under_private_tmp(path):
        log.warning(
            "CACHE_DIR is under /tmp; fine for a local run, refused under systemd",
            extra={"cache_dir": str(path)},
        )
    _require_writable(path)


def _under_private_tmp(path: Path) -> bool:
    resolved = path.resolve()
    return any(resolved.is_relative_to(root.resolve()) for root in PRIVATE_TMP_ROOTS)


def _require_writable(path: Path) -> None:
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".write-check-"):
            pass
    except OSError as exc:
        raise ConfigError(
            [
                f"CACHE_DIR={path} is not writable by user {_user()}: {exc.strerror or exc}; "
                "create it and give the service user write access"
            ]
        ) from exc


def _user() -> str:
    try:
        return pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:
        return str(os.geteuid())
