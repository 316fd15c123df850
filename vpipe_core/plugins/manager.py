"""Finding, validating and running plugins.

Plugins are entry points in the ``vpipe.plugins`` group (discovered with stevedore) whose value is a
module or object carrying ``@hookimpl`` functions; they are registered in a pluggy
``PluginManager("vpipe")``. A plugin that cannot be used (import error, no ``vpipe_plugin_info``,
bad config, missing environment variable, ...) becomes a `PluginProblem` and is skipped, or, in
strict mode, stops the start with `PluginLoadError`.
"""

from __future__ import annotations

import logging
import os
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import attrs
import pluggy
import stevedore

from vpipe_core.plugins import hookspecs
from vpipe_core.plugins.config import (
    PluginConfigError,
    PluginSettings,
    config_path,
    read_plugin_settings,
)
from vpipe_core.plugins.execution import StageResult, StageRunner
from vpipe_core.plugins.types import EnrichmentContext, PluginInfo
from vpipe_core.spec import WorkerSpec

logger = logging.getLogger("vpipe.plugins")

DEFAULT_GROUP = "vpipe.plugins"
NOT_INSTALLED = "-"


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


# --------------------------------------------------------------------------- loading


@attrs.frozen
class PluginCandidate:
    """An object offered as a plugin, before any check.

    Attributes:
        name: the name it is offered under (the entry-point name).
        target: where it came from, for messages.
        obj: the module or object carrying ``@hookimpl`` functions.
    """

    name: str
    target: str
    obj: object


class _Rejected(Exception):
    """A plugin fails a check; the message is the problem's text."""


def load_plugins(
    *,
    selected: Sequence[str] | None,
    strict: bool,
    config_dir: Path | None,
    group: str = DEFAULT_GROUP,
    environ: Mapping[str, str] | None = None,
    max_workers: int | None = None,
) -> PluginSet:
    """Discover the plugins installed in entry-point `group` and load the usable ones.

    Args:
        selected: plugin names to load (``VPIPE_PLUGINS``); ``None`` loads every installed one.
            Plugins not selected are not even imported; a selected name not installed is a
            problem.
        strict: raise `PluginLoadError` listing every problem instead of skipping.
        config_dir: where ``<name>.toml`` config files live; ``None``: defaults for all.
        group: the entry-point group.
        environ: the environment for ``required_env`` and ``${VAR}`` (default ``os.environ``).
        max_workers: threads shared by plugin calls (default: number of plugins + 4).
    """
    candidates, problems = discover_plugins(group, selected)
    return build_plugin_set(
        candidates,
        strict=strict,
        config_dir=config_dir,
        environ=environ,
        max_workers=max_workers,
        known_problems=problems,
    )


def declared_plugin_topics(
    *,
    selected: Sequence[str] | None = None,
    config_dir: Path | None = None,
    group: str = DEFAULT_GROUP,
    environ: Mapping[str, str] | None = None,
) -> list[str]:
    """Topics the usable, enabled plugins publish to, for ``vpipe topics create``.

    Pass ``selected=settings.plugins, config_dir=settings.plugin_config_dir`` (and the effective
    environment): a plugin's topics may come from its config file. Broken plugins are skipped.
    """
    with load_plugins(
        selected=selected, strict=False, config_dir=config_dir, group=group, environ=environ
    ) as plugin_set:
        return plugin_set.topics()


def plugin_set_from_objects(
    objects: Mapping[str, object],
    *,
    strict: bool = False,
    config_dir: Path | None = None,
    environ: Mapping[str, str] | None = None,
    max_workers: int | None = None,
) -> PluginSet:
    """Load plugins from objects instead of entry points (``{name: module_or_object}``), with
    the same checks: for plugin authors' tests and embedding."""
    candidates = [
        PluginCandidate(name, getattr(obj, "__name__", type(obj).__qualname__), obj)
        for name, obj in objects.items()
    ]
    return build_plugin_set(
        candidates,
        strict=strict,
        config_dir=config_dir,
        environ=environ,
        max_workers=max_workers,
    )


def discover_plugins(
    group: str, selected: Sequence[str] | None
) -> tuple[list[PluginCandidate], list[PluginProblem]]:
    """Import the plugins of `group` (only `selected` ones when given) with stevedore."""
    problems: list[PluginProblem] = []

    def record_import_failure(_: Any, entry_point: Any, error: BaseException) -> None:
        problems.append(PluginProblem(entry_point.name, entry_point.value, _describe(error)))

    manager = _extension_manager(group, selected, record_import_failure)
    installed = manager.list_entry_points()
    duplicated = _duplicated_names(installed)
    problems.extend(
        PluginProblem(name, ", ".join(targets), "installed more than once")
        for name, targets in duplicated.items()
        if selected is None or name in selected
    )
    installed_names = {entry_point.name for entry_point in installed}
    problems.extend(
        PluginProblem(name, NOT_INSTALLED, f"selected but not installed (group {group!r})")
        for name in selected or ()
        if name not in installed_names
    )
    candidates = [
        PluginCandidate(extension.name, extension.entry_point_target, extension.plugin)
        for extension in manager.extensions
        if extension.name not in duplicated
    ]
    return candidates, problems


def _extension_manager(
    group: str, selected: Sequence[str] | None, on_failure: Callable[..., None]
) -> stevedore.ExtensionManager[Any]:
    if selected is None:
        return stevedore.ExtensionManager(
            namespace=group, invoke_on_load=False, on_load_failure_callback=on_failure
        )
    return stevedore.NamedExtensionManager(
        namespace=group,
        names=list(selected),
        invoke_on_load=False,
        on_load_failure_callback=on_failure,
        on_missing_entrypoints_callback=None,
    )


def _duplicated_names(entry_points: Iterable[Any]) -> dict[str, list[str]]:
    entry_points = list(entry_points)
    counts = Counter(entry_point.name for entry_point in entry_points)
    return {
        name: [ep.value for ep in entry_points if ep.name == name]
        for name, count in counts.items()
        if count > 1
    }


def build_plugin_set(
    candidates: Iterable[PluginCandidate],
    *,
    strict: bool,
    config_dir: Path | None,
    environ: Mapping[str, str] | None = None,
    max_workers: int | None = None,
    known_problems: Iterable[PluginProblem] = (),
) -> PluginSet:
    """Register and check each candidate; the usable ones form the `PluginSet`."""
    environ = os.environ if environ is None else environ
    candidates = list(candidates)
    if candidates and config_dir is not None and not config_dir.is_dir():
        logger.warning("plugin config directory %s does not exist; using defaults", config_dir)
    plugin_manager = new_plugin_manager()
    loaded: list[LoadedPlugin] = []
    problems = list(known_problems)
    for candidate in candidates:
        try:
            loaded.append(_load_candidate(plugin_manager, candidate, config_dir, environ))
        except Exception as error:
            _unregister(plugin_manager, candidate)
            problems.append(PluginProblem(candidate.name, candidate.target, _describe(error)))
    for problem in problems:
        logger.error("plugin %s not loaded: %s", problem.name, problem.error)
    if strict and problems:
        raise PluginLoadError(problems)
    return PluginSet(loaded, problems, plugin_manager, max_workers=max_workers)


def new_plugin_manager() -> pluggy.PluginManager:
    """A pluggy manager for project ``"vpipe"`` with the vpipe hookspecs."""
    plugin_manager = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    plugin_manager.add_hookspecs(hookspecs)
    return plugin_manager


def _load_candidate(
    plugin_manager: pluggy.PluginManager,
    candidate: PluginCandidate,
    config_dir: Path | None,
    environ: Mapping[str, str],
) -> LoadedPlugin:
    _register(plugin_manager, candidate)
    info = _plugin_info(plugin_manager, candidate)
    _check_required_env(info, environ)
    settings = read_plugin_settings(
        info.name, info.config_class, info.priority, config_path(config_dir, info.name), environ
    )
    enrich_impl = _own_impl(plugin_manager, "vpipe_enrich", candidate.name)
    if not settings.enabled:
        return LoadedPlugin(info, candidate.target, settings, enrich=None)
    return LoadedPlugin(
        info,
        candidate.target,
        settings,
        enrich=None if enrich_impl is None else _bind_enrich(enrich_impl),
        topics=_declared_topics(plugin_manager, candidate.name, settings.config),
        companion_workers=_declared_workers(plugin_manager, candidate.name, settings.config),
    )


def _register(plugin_manager: pluggy.PluginManager, candidate: PluginCandidate) -> None:
    plugin_manager.register(candidate.obj, name=candidate.name)
    unknown = [
        caller.name
        for caller in plugin_manager.get_hookcallers(candidate.obj) or ()
        if not caller.has_spec()
    ]
    if unknown:
        raise _Rejected(f"unknown hook(s) {', '.join(sorted(unknown))} (no such vpipe hookspec)")


def _unregister(plugin_manager: pluggy.PluginManager, candidate: PluginCandidate) -> None:
    if plugin_manager.get_plugin(candidate.name) is candidate.obj:
        plugin_manager.unregister(name=candidate.name)


def _plugin_info(plugin_manager: pluggy.PluginManager, candidate: PluginCandidate) -> PluginInfo:
    impl = _own_impl(plugin_manager, "vpipe_plugin_info", candidate.name)
    if impl is None:
        raise _Rejected("has no vpipe_plugin_info hook implementation")
    info = _call_impl(impl)
    if not isinstance(info, PluginInfo):
        raise _Rejected(f"vpipe_plugin_info returned {type(info).__name__}, expected PluginInfo")
    if info.name != candidate.name:
        raise _Rejected(f"calls itself {info.name!r}; its entry point must have the same name")
    return info


def _check_required_env(info: PluginInfo, environ: Mapping[str, str]) -> None:
    missing = [name for name in info.required_env if not environ.get(name)]
    if missing:
        raise _Rejected(f"required environment variable(s) not set: {', '.join(missing)}")


def _declared_topics(
    plugin_manager: pluggy.PluginManager, plugin_name: str, config: Any
) -> tuple[str, ...]:
    impl = _own_impl(plugin_manager, "vpipe_topics", plugin_name)
    topics = () if impl is None else tuple(_call_impl(impl, config=config) or ())
    if not all(isinstance(topic, str) and topic for topic in topics):
        raise _Rejected(f"vpipe_topics must return topic names, got {topics!r}")
    return topics


def _declared_workers(
    plugin_manager: pluggy.PluginManager, plugin_name: str, config: Any
) -> tuple[WorkerSpec, ...]:
    impl = _own_impl(plugin_manager, "vpipe_companion_workers", plugin_name)
    workers = () if impl is None else tuple(_call_impl(impl, config=config) or ())
    if not all(isinstance(worker, WorkerSpec) for worker in workers):
        raise _Rejected(f"vpipe_companion_workers must return WorkerSpecs, got {workers!r}")
    return workers


def _own_impl(
    plugin_manager: pluggy.PluginManager, hook_name: str, plugin_name: str
) -> pluggy.HookImpl | None:
    """One plugin's implementation of a hook (the runtime never makes the 1:N hook call)."""
    caller: pluggy.HookCaller = getattr(plugin_manager.hook, hook_name)
    for impl in caller.get_hookimpls():
        if impl.plugin_name == plugin_name:
            return impl
    return None


def _call_impl(impl: pluggy.HookImpl, **arguments: Any) -> Any:
    """Call an implementation with the arguments it names (it may take fewer than the spec)."""
    return impl.function(*(arguments[name] for name in impl.argnames))


def _bind_enrich(impl: pluggy.HookImpl) -> Callable[[EnrichmentContext], object]:
    def enrich(ctx: EnrichmentContext) -> object:
        return _call_impl(impl, ctx=ctx)

    return enrich


def _describe(error: BaseException) -> str:
    """Our own messages as they are; anything a plugin raised with its type."""
    if isinstance(error, (_Rejected, PluginConfigError)):
        return str(error)
    return f"{type(error).__name__}: {error}"


# --------------------------------------------------------------------------- doctor


@attrs.frozen
class DoctorRow:
    """One line of ``vpipe plugins doctor``.

    Attributes:
        name: the plugin (entry-point) name, or a config file's stem.
        version: the plugin's version, ``"-"`` when unknown.
        status: ``"ok"`` or ``"error"``.
        detail: the error, or a note (``disabled``, ``not selected``).
    """

    name: str
    version: str
    status: str
    detail: str = ""


def doctor(
    *,
    config_dir: Path | None,
    selected: Sequence[str] | None = None,
    group: str = DEFAULT_GROUP,
    environ: Mapping[str, str] | None = None,
) -> list[DoctorRow]:
    """Check every installed plugin (selected or not) and every config file; one row each."""
    candidates, problems = discover_plugins(group, None)
    if selected is not None:
        installed = {candidate.name for candidate in candidates} | {p.name for p in problems}
        problems += [
            PluginProblem(name, NOT_INSTALLED, f"selected but not installed (group {group!r})")
            for name in selected
            if name not in installed
        ]
    with build_plugin_set(
        candidates, strict=False, config_dir=config_dir, environ=environ, known_problems=problems
    ) as plugin_set:
        rows = [_plugin_row(plugin, selected) for plugin in plugin_set.plugins]
        rows += [_plugin_row(plugin, selected) for plugin in plugin_set.disabled]
        rows += [DoctorRow(p.name, "-", "error", p.error) for p in plugin_set.problems]
    known = {row.name for row in rows}
    rows += _orphan_config_rows(config_dir, known)
    return sorted(rows, key=lambda row: row.name)


def _plugin_row(plugin: LoadedPlugin, selected: Sequence[str] | None) -> DoctorRow:
    notes = []
    if not plugin.enabled:
        notes.append(f"disabled in {plugin.settings.source}")
    if selected is not None and plugin.name not in selected:
        notes.append("not selected (VPIPE_PLUGINS)")
    return DoctorRow(plugin.name, plugin.info.version, "ok", "; ".join(notes))


def _orphan_config_rows(config_dir: Path | None, known: set[str]) -> list[DoctorRow]:
    if config_dir is None or not config_dir.is_dir():
        return []
    return [
        DoctorRow(path.stem, "-", "error", f"config file {path} matches no installed plugin")
        for path in sorted(config_dir.glob("*.toml"))
        if path.stem not in known
    ]
