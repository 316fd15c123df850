"""pytest fixtures: `kafka_bootstrap` (a session broker on loopback, or VPIPE_TEST_BOOTSTRAP).

Registered through the `pytest11` entry point, so any project with vpipe-core installed can use
the fixtures; importing this module is cheap and starts nothing.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """host:port of a Kafka-protocol broker for the whole test session."""
    external = os.environ.get("VPIPE_TEST_BOOTSTRAP")
    if external:
        yield external
        return
    from vpipe_core.testing.broker import LocalBroker

    log_path = Path(tmp_path_factory.mktemp("broker")) / "tansu.log"
    with LocalBroker(log_path=log_path) as broker:
        yield broker.bootstrap
