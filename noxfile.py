"""Sessions: tests, lint, bench, demo (and e2e once the chaos suite lands)."""

from __future__ import annotations

import nox

nox.options.sessions = ["tests", "lint"]
nox.options.reuse_existing_virtualenvs = True

PYTHON = "3.11"
DOMAINS = ["-e", "plugins/vpipe_xact", "-e", "plugins/vpipe_claimx"]
TEST_PACKAGES = ["-e", "tests/fixtures/domain", "-e", "tests/fixtures/plugins"]


def install_all(session: nox.Session) -> None:
    session.install("-e", ".[testing]", *DOMAINS, *TEST_PACKAGES)


@nox.session(python=PYTHON)
def tests(session: nox.Session) -> None:
    """Run the test suite against a local Kafka-protocol broker (started by the session)."""
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


@nox.session(python=PYTHON)
def bench(session: nox.Session) -> None:
    """Benchmarks: each figure as a ratio against a bare baseline measured in the same run."""
    install_all(session)
    session.run("python", "-m", "benchmarks.bench_passthrough", *session.posargs)


@nox.session(python=PYTHON)
def demo(session: nox.Session) -> None:
    """Run the pipeline on a local broker (`vpipe demo --help` for options)."""
    install_all(session)
    session.run("vpipe", "demo", *session.posargs)
