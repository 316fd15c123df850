"""The plugins of a process once loaded: what each one is (`LoadedPlugin`), the set that runs
them for events (`PluginSet`), and what could not be loaded (`PluginProblem`)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from types import TracebackType
from typing import Any

import attrs
import pluggy

from vpipe_core.plugins.config import PluginSettings
from vpipe_core.plugins.execution import StageResult, StageRunner
from vpipe_core.plugins.types import EnrichmentContext, PluginInfo
from vpipe_core.spec import WorkerSpec


@attrs.frozen
class PluginProblem:
    """A plugin that could not be used.

    Attributes:
        name: the entry-point (plugin) name.
        target: the entry point's ``module:object``, or ``"-"`` when nothing is installed.
        error: what is wrong, fit for an operator.
    """

    name: str
    target: str
    error: str

    def __str__(self) -> str:
        return f"{self.name} ({self.target}): {self.error}"


class PluginLoadError(RuntimeError):
    """Strict mode: at least one plugin could not be loaded. ``problems`` lists them all."""

    def __init__(self, problems: Sequence[PluginProblem]) -> None:
        self.problems = tuple(problems)
        listing = "\n".join(f"  - {problem}" for problem in self.problems)
        super().__init__(f"{len(self.problems)} plugin(s) could not be loaded:\n{listing}")


@attrs.frozen
class LoadedPlugin:
    """A plugin that passed every check.

    Attributes:
        info: what the plugin says about itself.
        target: the entry point's ``module:object`` (or the object's name).
        settings: its config file, read and validated.
        enrich: its ``vpipe_enrich`` implementation, ``None`` when it has none.
        topics: topics it publishes to (``vpipe_topics``).
        companion_workers: workers it needs (``vpipe_companion_workers``).
    """

    info: PluginInfo
    target: str
    settings: PluginSettings
    enrich: Callable[[EnrichmentContext], object] | None
    topics: tuple[str, ...] = ()
    companion_workers: tuple[WorkerSpec, ...] = ()

    @property
    def name(self) -> str:
        return self.info.name

    @property
    def priority(self) -> int:
        return self.settings.priority

    @property
    def enabled(self) -> bool:
        return self.settings.enabled

    @property
    def config(self) -> Any:
        return self.settings.config


def _run_order(plugin: LoadedPlugin) -> tuple[int, str]:
    return (plugin.priority, plugin.name)


class PluginSet:
    """The loaded plugins of a process, ready to run for events.

    Attributes:
        plugins: enabled plugins in run order (priority, then name).
        disabled: plugins switched off by ``enabled = false`` in their config file.
        problems: plugins that could not be used.
        plugin_manager: the pluggy manager every usable plugin is registered in.
    """

    def __init__(
        self,
        plugins: Iterable[LoadedPlugin],
        problems: Iterable[PluginProblem],
        plugin_manager: pluggy.PluginManager,
        *,
        max_workers: int | None = None,
    ) -> None:
        ordered = sorted(plugins, key=_run_order)
        self.plugins: tuple[LoadedPlugin, ...] = tuple(p for p in ordered if p.enabled)
        self.disabled: tuple[LoadedPlugin, ...] = tuple(p for p in ordered if not p.enabled)
        self.problems: tuple[PluginProblem, ...] = tuple(problems)
        self.plugin_manager = plugin_manager
        self._runner = StageRunner(max_workers or len(self.plugins) + 4)

    def run(self, ctx: EnrichmentContext, *, timeout_s: float = 10.0) -> StageResult:
        """Call every plugin that matches `ctx`, in order, each with `timeout_s`.

        A plugin that raises, times out or returns something invalid is logged, counted and
        ignored; it never fails the event. `ctx` itself is not changed: use the result.
        """
        return self._runner.run(self.plugins, ctx, timeout_s)

    def topics(self) -> list[str]:
        """Every topic the enabled plugins publish to, sorted, once each."""
        return sorted({topic for plugin in self.plugins for topic in plugin.topics})

    def companion_workers(self) -> list[WorkerSpec]:
        """Every worker the enabled plugins declared, in plugin order."""
        return [spec for plugin in self.plugins for spec in plugin.companion_workers]

    def close(self) -> None:
        self._runner.close()

    def __enter__(self) -> PluginSet:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
