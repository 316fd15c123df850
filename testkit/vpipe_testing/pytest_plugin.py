"""pytest fixtures: `kafka_bootstrap` (a session broker on loopback, or VPIPE_TEST_BOOTSTRAP) and
`fresh_kafka` (a broker of the test's own).

Which broker: `--broker kafka|local` or VPIPE_TEST_BROKER (vpipe_testing.brokers); the
report's header names it, and a failed test's report names the broker log to read.
Registered through the `pytest11` entry point of vpipe-testing, so any project with the test kit
installed can use the fixtures; importing this module is cheap and starts nothing.
"""

from __future__ import annotations

import os
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any

import pytest

_LOG_KEY = pytest.StashKey[Path]()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--broker",
        choices=("kafka", "local"),
        default=None,
        help="kafka: Apache Kafka 4.x started by the tests (needs Java and Maven); local: the "
        "memory-only broker. Default: VPIPE_TEST_BROKER, else kafka where java is found.",
    )


def pytest_configure(config: pytest.Config) -> None:
    from vpipe_testing.brokers import BROKER_ENV, broker_kind

    chosen = config.getoption("--broker", default=None)
    # Exported so worker processes and helpers started by tests pick the same broker settings.
    os.environ[BROKER_ENV] = broker_kind(chosen)


def pytest_sessionstart(session: pytest.Session) -> None:
    """The first line of the report names the broker, also under -q (which hides the header)."""
    from vpipe_testing.brokers import broker_kind, describe

    external = os.environ.get("VPIPE_TEST_BOOTSTRAP")
    line = (
        f"external broker, VPIPE_TEST_BOOTSTRAP={external}" if external else describe(broker_kind())
    )
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line(f"broker: {line}")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    log = item.stash.get(_LOG_KEY, None)
    if log is not None and report.failed:
        report.sections.append(("broker", f"broker log: {log}"))
    return report


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """host:port of a Kafka broker for the whole test session."""
    external = os.environ.get("VPIPE_TEST_BOOTSTRAP")
    if external:
        yield external
        return
    from vpipe_testing.brokers import running_broker

    with running_broker(Path(tmp_path_factory.mktemp("broker"))) as broker:
        yield broker.bootstrap


@pytest.fixture
def fresh_kafka(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    """A broker of this test's own (empty, no topics), for tests that reuse fixed topic names.

    With VPIPE_TEST_BOOTSTRAP set there is only the external broker, so such tests are skipped.
    """
    if os.environ.get("VPIPE_TEST_BOOTSTRAP"):
        pytest.skip("needs a broker of its own; VPIPE_TEST_BOOTSTRAP points at a shared one")
    from vpipe_testing.brokers import log_path_of, running_broker

    root = tmp_path / "broker"
    request.node.stash[_LOG_KEY] = log_path_of(root)
    with running_broker(root) as broker:
        yield broker.bootstrap


@pytest.fixture
def apache_kafka(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Any]:
    """An Apache Kafka node of this test's own (`ApacheKafka`: its tools, kill and restart), for
    tests of what Kafka itself enforces; skipped, with the reason, on the local broker."""
    from vpipe_testing.brokers import broker_kind, running_broker

    if broker_kind() != "kafka":
        pytest.skip("tests Apache Kafka's own behaviour: run with --broker kafka")
    root = tmp_path / "broker"
    request.node.stash[_LOG_KEY] = root / "kafka.log"
    with running_broker(root, "kafka") as broker:
        yield broker


@pytest.fixture(scope="session")
def promtool() -> Path:
    """Prometheus' promtool (`vpipe_testing.promtool`). Without it the test fails in CI
    (CI=true) and is skipped elsewhere, saying why."""
    from vpipe_testing.promtool import PromtoolMissing
    from vpipe_testing.promtool import promtool as fetch_promtool

    try:
        return fetch_promtool()
    except PromtoolMissing as exc:
        if os.environ.get("CI", "").lower() in ("true", "1"):
            pytest.fail(f"promtool is required in CI: {exc}")
        pytest.skip(f"promtool unavailable: {exc}")
