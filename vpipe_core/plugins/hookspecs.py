"""The hooks a vpipe plugin may implement (pluggy project name ``"vpipe"``).

A plugin is a module (or an object) registered under the ``vpipe.plugins`` entry-point group whose
functions are marked with :data:`hookimpl`. Only ``vpipe_plugin_info`` is required. An
implementation may accept fewer arguments than the specification (pluggy passes only the ones it
names), so ``def vpipe_topics(): ...`` is as valid as ``def vpipe_topics(config): ...``.

The runtime calls each plugin's implementation on its own, never as a 1:N hook call, so one failing
plugin cannot stop the others.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from vpipe_core.plugins.types import EnrichmentContext, PluginInfo, PluginResult
    from vpipe_core.spec import WorkerSpec

PROJECT_NAME = "vpipe"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


@hookspec
def vpipe_plugin_info() -> PluginInfo:  # type: ignore[empty-body]
    """Describe the plugin: name, version, where it runs and its config class. Required."""


@hookspec
def vpipe_enrich(ctx: EnrichmentContext) -> PluginResult | None:
    """Look at one event at a stage; return a result (or ``None``, which means "ok").

    ``ctx.config`` is this plugin's validated config object. Records published with
    ``ctx.publish`` and headers set in ``ctx.headers`` count only if the call returns in time and
    without raising.
    """


@hookspec
def vpipe_companion_workers(config: Any) -> list[WorkerSpec]:  # type: ignore[empty-body]
    """Workers the plugin needs (e.g. a tracking consumer of the topic it publishes to)."""


@hookspec
def vpipe_topics(config: Any) -> list[str]:  # type: ignore[empty-body]
    """Topics the plugin publishes to, so ``vpipe topics create`` can create them."""
