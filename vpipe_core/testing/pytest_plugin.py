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


@pytest.fixture
def fresh_kafka(tmp_path: Path) -> Iterator[str]:
    """A broker of this test's own (empty, no topics), for tests that reuse fixed topic names.

    With VPIPE_TEST_BOOTSTRAP set there is only the external broker, so such tests are skipped.
    """
    if os.environ.get("VPIPE_TEST_BOOTSTRAP"):
        pytest.skip("needs a broker of its own; VPIPE_TEST_BOOTSTRAP points at a shared one")
    from vpipe_core.testing.broker import LocalBroker

    with LocalBroker(log_path=tmp_path / "tansu.log") as broker:
        yield broker.bootstrap
