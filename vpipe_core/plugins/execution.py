"""Running the plugins of a stage for one event: in order, each isolated, each with a timeout."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import Any, Literal, Protocol

import attrs

from vpipe_core.ops import metrics
from vpipe_core.outcome import Output
from vpipe_core.plugins.types import EnrichmentContext, PluginInfo, PluginResult

logger = logging.getLogger("vpipe.plugins")

RunResult = Literal["ok", "filtered", "error", "skipped"]


class RunnablePlugin(Protocol):
    """What the runner needs of a loaded plugin."""

    @property
    def name(self) -> str: ...

    @property
    def info(self) -> PluginInfo: ...

    @property
    def config(self) -> Any: ...

    @property
    def enrich(self) -> Callable[[EnrichmentContext], object] | None: ...


@attrs.frozen
class PluginRun:
    """How one plugin call went.

    Attributes:
        plugin: the plugin's name.
        result: ``ok``, ``filtered``, ``error`` (raised, timed out or returned something invalid)
            or ``skipped`` (its previous, timed-out call is still running).
        seconds: wall time waited for it.
        error: what went wrong, for ``error`` and ``skipped``.
    """

    plugin: str
    result: RunResult
    seconds: float = 0.0
    error: str | None = None


@attrs.define
class StageResult:
    """What the plugins of a stage decided for one event.

    Attributes:
        filtered_by: ``(plugin, reason)`` for each plugin that filtered the event; any entry means
            no downstream tasks for it.
        outputs: records to produce with the event's outputs (``ctx.publish`` calls and
            `PluginResult.outputs`, in plugin order).
        headers: the event's headers after the plugins: copy them onto its downstream records.
        runs: one `PluginRun` per plugin that matched the event, in the order they ran.
    """

    headers: dict[str, str]
    filtered_by: list[tuple[str, str]] = attrs.field(factory=list)
    outputs: list[Output] = attrs.field(factory=list)
    runs: list[PluginRun] = attrs.field(factory=list)

    @property
    def filtered(self) -> bool:
        return bool(self.filtered_by)

    def absorb(self, plugin: str, plugin_ctx: EnrichmentContext, result: PluginResult) -> None:
        """Take in what a plugin that returned in time did."""
        self.outputs.extend(plugin_ctx.published)
        self.outputs.extend(result.outputs)
        self.headers = {**plugin_ctx.headers, **result.headers}
        if result.filter_reason is not None:
            self.filtered_by.append((plugin, result.filter_reason))


class PluginTimedOut(Exception):
    """A plugin call did not return within its timeout (it keeps running in its thread)."""


class StageRunner:
    """Calls plugins one after another on a small shared thread pool, so a stuck plugin costs
    its timeout, not the event. A plugin whose timed-out call is still running is skipped
    rather than given another thread."""

    def __init__(self, max_workers: int) -> None:
        self._executor = ThreadPoolExecutor(max_workers, thread_name_prefix="vpipe-plugin")
        self._overdue: dict[str, Future[object]] = {}
        self._lock = threading.Lock()

    def run(
        self, plugins: Sequence[RunnablePlugin], ctx: EnrichmentContext, timeout_s: float
    ) -> StageResult:
        stage = StageResult(headers=dict(ctx.headers))
        for plugin in plugins:
            if plugin.enrich is not None and plugin.info.applies_to(ctx):
                stage.runs.append(self._run_one(plugin, ctx, stage, timeout_s))
        return stage

    def close(self) -> None:
        """Stop accepting calls; calls still running are not waited for."""
        self._executor.shutdown(wait=False, cancel_futures=True)

    def _run_one(
        self,
        plugin: RunnablePlugin,
        ctx: EnrichmentContext,
        stage: StageResult,
        timeout_s: float,
    ) -> PluginRun:
        if self._still_running(plugin.name):
            return _record_skip(plugin.name, ctx)
        plugin_ctx = ctx.for_plugin(plugin.config, stage.headers)
        started = time.monotonic()
        try:
            result = self._call(plugin, plugin_ctx, timeout_s)
        except Exception as error:
            return _record_failure(plugin.name, ctx, time.monotonic() - started, error)
        stage.absorb(plugin.name, plugin_ctx, result)
        _log_message(plugin.name, plugin_ctx, result.log)
        return _record_success(plugin.name, result, time.monotonic() - started)

    def _call(
        self, plugin: RunnablePlugin, plugin_ctx: EnrichmentContext, timeout_s: float
    ) -> PluginResult:
        assert plugin.enrich is not None
        future = self._executor.submit(plugin.enrich, plugin_ctx)
        finished, _ = wait([future], timeout=timeout_s)
        if not finished:
            self._mark_overdue(plugin.name, future)
            raise PluginTimedOut(f"timed out after {timeout_s:g}s")
        result = as_plugin_result(future.result())
        check_headers("ctx.headers", plugin_ctx.headers)
        return result

    def _still_running(self, name: str) -> bool:
        with self._lock:
            previous = self._overdue.get(name)
            if previous is not None and previous.done():
                del self._overdue[name]
                previous = None
            return previous is not None

    def _mark_overdue(self, name: str, future: Future[object]) -> None:
        if future.cancel():  # still queued: it will never run
            return
        with self._lock:
            self._overdue[name] = future


def as_plugin_result(returned: object) -> PluginResult:
    """``None`` means ok; anything but a `PluginResult` is the plugin's mistake."""
    if returned is None:
        return PluginResult.ok()
    if not isinstance(returned, PluginResult):
        raise TypeError(f"vpipe_enrich returned {type(returned).__name__}, expected PluginResult")
    return returned


def check_headers(what: str, headers: Mapping[Any, Any]) -> None:
    for name, value in headers.items():
        if not isinstance(name, str) or not isinstance(value, str):
            raise TypeError(f"{what} must map str to str, got {name!r}: {value!r}")


class _KeepUnknownFields(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def render_template(template: str, fields: Mapping[str, Any]) -> str:
    """`str.format_map` that leaves unknown ``{fields}`` as they are and never raises."""
    try:
        return template.format_map(_KeepUnknownFields(fields))
    except (ValueError, AttributeError, IndexError, KeyError, TypeError):
        return template


def _log_fields(plugin: str, ctx: EnrichmentContext) -> dict[str, Any]:
    return {"plugin": plugin, "event_id": ctx.event_id, "domain": ctx.domain, "stage": ctx.stage}


def _log_message(plugin: str, ctx: EnrichmentContext, template: str | None) -> None:
    if template:
        message = render_template(template, ctx.template_fields())
        logger.info("%s: %s", plugin, message, extra=_log_fields(plugin, ctx))


def _record_success(plugin: str, result: PluginResult, seconds: float) -> PluginRun:
    outcome: RunResult = "filtered" if result.filtered else "ok"
    metrics.plugin_runs.labels(plugin=plugin, result=outcome).inc()
    return PluginRun(plugin, outcome, seconds)


def _record_failure(
    plugin: str, ctx: EnrichmentContext, seconds: float, error: Exception
) -> PluginRun:
    metrics.plugin_runs.labels(plugin=plugin, result="error").inc()
    metrics.plugin_errors.labels(plugin=plugin).inc()
    fields = _log_fields(plugin, ctx)
    if isinstance(error, PluginTimedOut):
        logger.warning(
            "plugin %s %s on event %s; ignored", plugin, error, ctx.event_id, extra=fields
        )
        return PluginRun(plugin, "error", seconds, str(error))
    description = f"{type(error).__name__}: {error}"
    logger.error(
        "plugin %s failed on event %s; ignored: %s",
        plugin,
        ctx.event_id,
        description,
        exc_info=error,
        extra=fields,
    )
    return PluginRun(plugin, "error", seconds, description)


def _record_skip(plugin: str, ctx: EnrichmentContext) -> PluginRun:
    reason = "its previous call timed out and is still running"
    metrics.plugin_runs.labels(plugin=plugin, result="skipped").inc()
    logger.warning(
        "plugin %s skipped on event %s: %s",
        plugin,
        ctx.event_id,
        reason,
        extra=_log_fields(plugin, ctx),
    )
    return PluginRun(plugin, "skipped", 0.0, reason)
