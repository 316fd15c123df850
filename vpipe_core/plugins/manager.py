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
from typing import Any

import attrs
import pluggy
import stevedore

from vpipe_core.plugins import hookspecs
from vpipe_core.plugins.config import (
    PluginConfigError,
    config_path,
    read_plugin_settings,
)
from vpipe_core.plugins.plugin_set import LoadedPlugin, PluginLoadError, PluginProblem, PluginSet
from vpipe_core.plugins.types import EnrichmentContext, PluginInfo
from vpipe_core.spec import WorkerSpec

logger = logging.getLogger("vpipe.plugins")

DEFAULT_GROUP = "vpipe.plugins"
NOT_INSTALLED = "-"


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
