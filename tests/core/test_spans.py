"""OpenTelemetry spans, optional (lineage.spans): the rule that turns them on, the errors that
name the variable to fix, and nothing imported from opentelemetry while they are off."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from vpipe_core.config.core import CoreSettings
from vpipe_core.config.loader import load_settings
from vpipe_core.lineage.spans import TracingUnavailable, asked_by, tracing_for
from vpipe_core.runner import _context
from vpipe_core.spec import WorkerSpec

ENDPOINT = "http://127.0.0.1:4318"


@pytest.fixture(autouse=True)
def process_environment_restored():
    """`tracing_for` copies OTEL_* values into the process environment (the SDK reads them
    there): without this, they would reach every worker the later tests start."""
    saved = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(saved)


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({}, None),
        ({"OTEL_SERVICE_NAME": "x", "OTEL_RESOURCE_ATTRIBUTES": "a=b"}, None),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": ENDPOINT}, "OTEL_EXPORTER_OTLP_ENDPOINT"),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": ENDPOINT}, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"),
        ({"OTEL_TRACES_EXPORTER": "console"}, "OTEL_TRACES_EXPORTER"),
        ({"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": ENDPOINT}, None),
        ({"OTEL_SDK_DISABLED": "true", "OTEL_TRACES_EXPORTER": "otlp"}, None),
    ],
)
def test_spans_are_on_when_the_standard_variables_ask_for_traces(env, variable) -> None:
    assert asked_by(env) == variable


def context(**extra: str):
    env = {"KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:9", **extra}
    spec = WorkerSpec(name="t-worker", domain="t", handler="x:y", input_topics=("t.in",))
    return _context(spec, 1, "t-worker", load_settings(CoreSettings, env), env)


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"OTEL_TRACES_EXPORTER": "zipkin"}, "OTEL_TRACES_EXPORTER=zipkin"),
        (
            {"OTEL_EXPORTER_OTLP_ENDPOINT": ENDPOINT, "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"},
            "OTEL_EXPORTER_OTLP_PROTOCOL=grpc",
        ),
    ],
)
def test_an_exporter_vpipe_cannot_use_is_a_configuration_error(env, named) -> None:
    with pytest.raises(TracingUnavailable, match=named):
        tracing_for(context(), env)


def test_spans_export_through_the_sdk_to_the_console() -> None:
    tracing = tracing_for(context(), {"OTEL_TRACES_EXPORTER": "console"})
    assert tracing is not None
    tracing.close()


def run_python(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_without_the_variables_nothing_from_opentelemetry_is_imported() -> None:
    """A worker's imports (the runner, both loops, every installed worker's handler module) and
    the switch: with the SDK installed but no OTEL_* variable, opentelemetry stays unloaded."""
    done = run_python(
        """
        import os, sys
        import vpipe_core.cli.worker, vpipe_core.runner, vpipe_core.loop.source
        from vpipe_core.loop import ProcessingLoop
        from vpipe_core.registry import handler_factory, load_all_workers
        from vpipe_core.lineage.spans import tracing_for
        specs, _ = load_all_workers()
        for spec in specs:
            handler_factory(spec)
        assert tracing_for(None, dict(os.environ)) is None
        loaded = sorted(name for name in sys.modules if name.startswith("opentelemetry"))
        print(len(specs), loaded)
        """
    )
    assert done.returncode == 0, done.stderr
    count, loaded = done.stdout.split(" ", 1)
    assert int(count) > 10 and loaded.strip() == "[]", done.stdout


def test_variables_without_the_extra_stop_the_worker_naming_both() -> None:
    """The SDK missing (import blocked) but OTEL_EXPORTER_OTLP_ENDPOINT set: a clear error."""
    done = run_python(
        """
        import os, sys
        sys.modules["opentelemetry.sdk"] = None  # as if the `otel` extra were not installed
        from vpipe_core.lineage.spans import TracingUnavailable, tracing_for
        try:
            tracing_for(None, dict(os.environ))
        except TracingUnavailable as exc:
            print(exc)
        """,
        OTEL_EXPORTER_OTLP_ENDPOINT=ENDPOINT,
    )
    assert done.returncode == 0, done.stderr
    assert "OTEL_EXPORTER_OTLP_ENDPOINT is set" in done.stdout
    assert "pip install 'vpipe-core[otel]'" in done.stdout


def test_the_env_files_otel_variables_reach_the_sdk(monkeypatch) -> None:
    """A value from the `.env` file only (the worker's environment, not the process's) turns
    spans on, and is copied to the process environment, where the SDK reads it."""
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "placeholder")
    monkeypatch.delenv("OTEL_TRACES_EXPORTER")  # restored as absent after the test
    tracing = tracing_for(context(OTEL_TRACES_EXPORTER="console"))
    assert tracing is not None
    tracing.close()
    assert os.environ["OTEL_TRACES_EXPORTER"] == "console"
