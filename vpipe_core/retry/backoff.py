"""The back-off of every in-place retry (runtime.md §4): about 1 s after the first failure in a
row, doubling up to 60 s, each delay scaled by a random factor in [0.8, 1.2] so that instances
failing together do not all try again at the same moment."""

from __future__ import annotations

import random
from collections.abc import Callable

FIRST_DELAY_S = 1.0
MAX_DELAY_S = 60.0
JITTER_RANGE = (0.8, 1.2)
# 2**16 s is far past MAX_DELAY_S; the cap keeps 2.0**n from overflowing after many failures.
_MAX_DOUBLINGS = 16


def random_jitter() -> float:
    """A factor drawn uniformly from JITTER_RANGE."""
    return random.uniform(*JITTER_RANGE)


def backoff_s(failures: int, jitter: Callable[[], float] = random_jitter) -> float:
    """Seconds to wait after the `failures`-th failure in a row (1, 2, 3, ...).

    Tests pass `jitter=lambda: 1.0` for the bare doubling."""
    doublings = min(max(failures - 1, 0), _MAX_DOUBLINGS)
    return min(MAX_DELAY_S, FIRST_DELAY_S * 2.0**doublings) * jitter()
