"""Worker discovery: the `vpipe.workers` entry points, each naming a `WorkerSpec`.

`load_worker` imports only the requested entry point, so starting one worker never imports the
spec modules of the others (a broken plugin cannot stop an unrelated worker from starting).
"""

from __future__ import annotations

import importlib
import importlib.metadata
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import attrs
import stevedore
from stevedore.exception import NoMatches

from vpipe_core.spec import WorkerSpec

if TYPE_CHECKING:
    from vpipe_core.context import WorkerContext

WORKERS_NAMESPACE = "vpipe.workers"


class WorkerLoadError(Exception):
    """An installed worker entry point could not be turned into a valid `WorkerSpec`."""


class WorkerNotFound(WorkerLoadError):
    """No entry point with the requested worker name is installed."""

    def __init__(self, name: str, installed: list[str]) -> None:
        listed = ", ".join(installed) if installed else "(none)"
        super().__init__(
            f"no worker named {name!r} is installed; installed workers: {listed} "
            f"(run `vpipe workers list` for details)"
        )
        self.name = name
        self.installed = installed


@attrs.frozen
class LoadFailure:
    """An entry point that did not yield a valid `WorkerSpec`."""

    name: str
    target: str  # the entry point's value, "module:attribute"
    error: str


def installed_worker_names() -> list[str]:
    """Names of the installed worker entry points, sorted, without importing any of them."""
    return sorted({ep.name for ep in importlib.metadata.entry_points(group=WORKERS_NAMESPACE)})


def load_worker(name: str) -> WorkerSpec:
    """Load the spec of one worker; raise `WorkerLoadError` (or `WorkerNotFound`) with the cause."""
    installed = installed_worker_names()
    if name not in installed:
        raise WorkerNotFound(name, installed)
    try:
        manager: stevedore.DriverManager[object] = stevedore.DriverManager(
            namespace=WORKERS_NAMESPACE,
            name=name,
            invoke_on_load=False,
            on_load_failure_callback=_raise_load_error,
        )
    except NoMatches as exc:
        raise WorkerNotFound(name, installed) from exc
    return _validated_spec(name, manager.extensions[0].entry_point.value, manager.driver)


def load_all_workers() -> tuple[list[WorkerSpec], list[LoadFailure]]:
    """Load every installed worker spec, collecting the ones that fail instead of raising."""
    failures: list[LoadFailure] = []

    def record_failure(
        _: stevedore.ExtensionManager[object],
        entry_point: importlib.metadata.EntryPoint,
        error: BaseException,
    ) -> None:
        failures.append(LoadFailure(entry_point.name, entry_point.value, _describe(error)))

    manager: stevedore.ExtensionManager[object] = stevedore.ExtensionManager(
        namespace=WORKERS_NAMESPACE,
        invoke_on_load=False,
        on_load_failure_callback=record_failure,
    )
    specs: list[WorkerSpec] = []
    for extension in manager.extensions:
        try:
            specs.append(
                _validated_spec(extension.name, extension.entry_point.value, extension.plugin)
            )
        except WorkerLoadError as exc:
            failures.append(LoadFailure(extension.name, extension.entry_point.value, str(exc)))
    specs.sort(key=lambda spec: spec.name)
    failures.sort(key=lambda failure: failure.name)
    return specs, failures


def _raise_load_error(
    _: stevedore.ExtensionManager[object],
    entry_point: importlib.metadata.EntryPoint,
    error: BaseException,
) -> None:
    raise WorkerLoadError(
        f"worker entry point {entry_point.name!r} ({entry_point.value}) failed to load: "
        f"{_describe(error)}"
    ) from error


def _validated_spec(name: str, target: str, loaded: object) -> WorkerSpec:
    if not isinstance(loaded, WorkerSpec):
        raise WorkerLoadError(
            f"worker entry point {name!r} ({target}) is a {type(loaded).__name__}, not a WorkerSpec"
        )
    if loaded.name != name:
        raise WorkerLoadError(
            f"worker entry point {name!r} ({target}) holds a WorkerSpec named {loaded.name!r}; "
            f"the entry-point name and the spec name must be the same"
        )
    return loaded


def _describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"


def handler_factory(spec: WorkerSpec) -> Callable[[WorkerContext], Any]:
    """The function `spec.handler` names ("package.module:factory"), imported."""
    module_name, _, attr = spec.handler.partition(":")
    factory: Callable[[WorkerContext], Any] = getattr(importlib.import_module(module_name), attr)
    return factory
