"""What a handler factory receives when its worker starts."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar

import attrs

from vpipe_core.config.core import CoreSettings
from vpipe_core.ops.health_state import HealthState
from vpipe_core.spec import WorkerSpec

if TYPE_CHECKING:
    from vpipe_core.eventsource.backfill import BackfillWindow
    from vpipe_core.plugins.plugin_set import PluginSet

T = TypeVar("T")


@attrs.define
class WorkerContext:
    spec: WorkerSpec
    instance: int
    group: str
    settings: CoreSettings
    env: Mapping[str, str]  # the effective environment: process env over the .env file, expanded
    logger: logging.Logger
    health: HealthState = attrs.field(factory=HealthState)
    # A one-off poller run over a closed window (`vpipe-worker --backfill-from/--backfill-to`).
    backfill: BackfillWindow | None = attrs.field(default=None, kw_only=True)
    _plugins: Any = attrs.field(default=None, init=False, repr=False)

    @property
    def worker_id(self) -> str:
        return f"{self.spec.name}-{self.instance}"

    @property
    def client_id(self) -> str:
        """`<worker>-<instance>@<host>`: which host holds a partition, in `vpipe status`."""
        return f"{self.worker_id}@{self.settings.host}"

    @property
    def domain(self) -> str:
        return self.spec.domain

    def settings_for(self, settings_class: type[T]) -> T:
        """Load a domain's or plugin's settings class from the same environment; its secret
        values are redacted from then on (a class not registered as an entry point too)."""
        from vpipe_core.config.loader import load_settings, register_secret_settings

        settings = load_settings(settings_class, self.env)
        register_secret_settings(settings_class, self.env)
        return settings

    def plugins(self) -> PluginSet:
        """The enrichment plugins (loaded once). A broken plugin is logged and skipped, unless
        VPIPE_PLUGINS_STRICT is set: then PluginLoadError stops the worker at start."""
        if self._plugins is None:
            from vpipe_core.plugins.manager import load_plugins

            self._plugins = load_plugins(
                selected=self.settings.plugins,
                strict=self.settings.plugins_strict,
                config_dir=self.settings.plugin_config_dir,
                environ=self.env,
            )
            for problem in self._plugins.problems:
                self.logger.warning("plugin skipped", extra={"problem": str(problem)})
        return self._plugins
