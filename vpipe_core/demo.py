"""Demo scenarios: what a domain contributes to `vpipe demo` (entry-point group `vpipe.demos`)."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import attrs

DEMOS_GROUP = "vpipe.demos"


@attrs.frozen
class DemoScenario:
    """Workers to run, topics to create, and events to feed, with what must come out.

    `make_events(count, fault_rate, seed)` returns the input payloads and how many of them are
    expected to end in the DLQ; every other event must be produced to one of `output_topics`.
    """

    name: str
    description: str
    workers: tuple[tuple[str, int], ...]  # (worker name, instances)
    topics: tuple[str, ...]
    input_topic: str
    output_topics: tuple[str, ...]
    dlq_topic: str
    make_events: Callable[[int, float, int], tuple[list[bytes], int]]
    env: Mapping[str, str] = attrs.field(factory=dict)


def installed_scenarios() -> dict[str, DemoScenario]:
    from importlib.metadata import entry_points

    scenarios: dict[str, DemoScenario] = {}
    for entry_point in entry_points(group=DEMOS_GROUP):
        scenario = entry_point.load()
        if isinstance(scenario, DemoScenario):
            scenarios[entry_point.name] = scenario
    return scenarios
