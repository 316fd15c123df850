"""The vpipe plugin API.

Plugin authors import from here::

    from vpipe_core.plugins import EnrichmentContext, PluginInfo, PluginResult, hookimpl

    @hookimpl
    def vpipe_plugin_info() -> PluginInfo:
        return PluginInfo(name="my_trigger", version="1.0", domains=("acme",))

    @hookimpl
    def vpipe_enrich(ctx: EnrichmentContext) -> PluginResult | None:
        ctx.publish("my.topic", {"event_id": ctx.event_id})
        return PluginResult.ok()

and register the module under the ``vpipe.plugins`` entry-point group. The runtime side (loading,
running, doctor) is in `vpipe_core.plugins.manager`, `plugin_set` and `doctor`; this module stays
import-light.
"""

from vpipe_core.plugins.conditions import Condition, Conditions
from vpipe_core.plugins.hookspecs import hookimpl, hookspec
from vpipe_core.plugins.types import EnrichmentContext, PluginInfo, PluginResult

__all__ = [
    "Condition",
    "Conditions",
    "EnrichmentContext",
    "PluginInfo",
    "PluginResult",
    "hookimpl",
    "hookspec",
]
