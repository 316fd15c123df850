"""The processing loop of consuming workers (`ProcessingLoop`), built from one step per
concern: consume, execute, route, commits, rebalance, shutdown."""

from vpipe_core.loop.consume import FETCH_MAX, POLL_TIMEOUT_S
from vpipe_core.loop.processing import ProcessingLoop

__all__ = ["FETCH_MAX", "POLL_TIMEOUT_S", "ProcessingLoop"]
