"""The routing step with spans (lineage.spans): each record is routed inside its span. Chosen
at start instead of `Route` when spans are on, so the plain loop has no per-record check."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from vpipe_core.lineage.spans import Tracing
from vpipe_core.loop.route import Route, Routed


class TracedRoute(Route):
    def __init__(self, tracing: Tracing, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._tracing = tracing

    def route_all(self, routed: Iterable[Routed], keep_house: bool = True) -> None:
        super().route_all(self._tracing.traced(routed), keep_house)
