"""Starting one worker instance: config, identity, logs, ports, broker, then the loop.

Exit codes: 0 after a clean stop, 2 for configuration errors (systemd's RestartPreventExitStatus),
1 for anything else.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

import attrs

from vpipe_core.config.core import CoreSettings
from vpipe_core.config.fields import env_name, is_secret
from vpipe_core.context import WorkerContext
from vpipe_core.ops.health_state import HealthState
from vpipe_core.spec import Kind, WorkerSpec

if TYPE_CHECKING:
    from vpipe_core.eventsource.backfill import BackfillWindow
    from vpipe_core.lineage.spans import Tracing

EXIT_CONFIG = 2
log = logging.getLogger("vpipe.runner")


class StartupError(Exception):
    """A reason not to start, with the exit code to use."""

    def __init__(self, message: str, code: int = EXIT_CONFIG) -> None:
        super().__init__(message)
        self.code = code


def run_worker(
    name: str,
    instance: int | None = None,
    group: str | None = None,
    env_file: Path | None = None,
    backfill: BackfillWindow | None = None,
) -> int:
    try:
        return _run(name, instance, group, env_file, backfill)
    except StartupError as exc:
        print(f"vpipe-worker: {exc}", file=sys.stderr)
        return exc.code


def _run(
    name: str,
    instance: int | None,
    group: str | None,
    env_file: Path | None,
    backfill: BackfillWindow | None,
) -> int:
    spec = _load_spec(name)
    env, settings = _load_config(env_file, spec)
    instance = instance or settings.worker_instance
    if backfill is not None:
        return _backfill(spec, instance, settings, env, backfill)
    port = _check_ports(spec, instance)
    ctx = _context(spec, instance, group or settings.consumer_group or spec.name, settings, env)
    _setup_logs(ctx)
    from vpipe_core.ops.health import HealthServer
    from vpipe_core.ops.ports import PortConflict

    server = HealthServer(ctx.health, port, bind=settings.metrics_bind_address)
    try:
        server.start()
    except PortConflict as exc:
        raise StartupError(str(exc)) from exc
    try:
        return _serve(ctx, port)
    finally:
        server.stop()


def _backfill(
    spec: WorkerSpec,
    instance: int,
    settings: CoreSettings,
    env: Mapping[str, str],
    window: BackfillWindow,
) -> int:
    """A one-off run of a poller over a closed window, by hand next to the service instance:
    no metrics port (the service holds it); exits 0 once the window is drained."""
    if spec.kind is not Kind.SOURCE:
        raise StartupError(f"--backfill-from/--backfill-to: {spec.name} is not a poller")
    ctx = _context(spec, instance, spec.name, settings, env)
    ctx.backfill = window
    _setup_logs(ctx)
    return _serve(ctx, None)


def _load_config(env_file: Path | None, spec: WorkerSpec) -> tuple[dict[str, str], CoreSettings]:
    """The checks `vpipe config check` runs, for this worker; under systemd also the env file's.
    The secret values of every installed settings class are redacted from then on, whichever
    code path prints them."""
    from vpipe_core.config.environment import load_environment
    from vpipe_core.config.loader import (
        ConfigError,
        all_settings_classes,
        load_settings,
        register_secret_settings,
    )
    from vpipe_core.config.startup import configuration_problems, under_systemd

    try:
        environment = load_environment(env_file=env_file)
        env = environment.values
        classes = all_settings_classes()
        problems = configuration_problems(environment, [spec], under_systemd(env), classes)
        if problems:
            raise ConfigError(problems)
        for cls in classes.values():
            register_secret_settings(cls, env)
        return dict(env), load_settings(CoreSettings, env)
    except ConfigError as exc:
        raise StartupError(f"configuration error:\n{exc}") from exc


def _load_spec(name: str) -> WorkerSpec:
    from vpipe_core.registry import WorkerLoadError, load_worker

    try:
        return load_worker(name)
    except WorkerLoadError as exc:
        raise StartupError(str(exc)) from exc


def _check_ports(spec: WorkerSpec, instance: int) -> int:
    from vpipe_core.ops.ports import PortConflict, check_ports
    from vpipe_core.registry import load_all_workers

    installed, _ = load_all_workers()
    try:
        return check_ports(spec, instance, installed)
    except PortConflict as exc:
        raise StartupError(str(exc)) from exc


def _context(
    spec: WorkerSpec, instance: int, group: str, settings: CoreSettings, env: Mapping[str, str]
) -> WorkerContext:
    health = HealthState(
        stall_seconds=settings.health_stall_seconds,
        broker_check_seconds=settings.ready_broker_check_seconds,
        inplace_alert_seconds=settings.inplace_retry_alert_seconds,
    )
    logger = logging.getLogger(f"vpipe.worker.{spec.name}")
    return WorkerContext(spec, instance, group, settings, env, logger, health)


def configure_logging(
    settings: CoreSettings,
    *,
    worker: str,
    instance: int,
    domain: str,
    console_stream: TextIO | None = None,
) -> Path | None:
    """The logging of a worker from its settings; returns the log file path."""
    from vpipe_core.logs.setup import setup_logging

    return setup_logging(
        worker=worker,
        instance=instance,
        domain=domain,
        log_dir=settings.log_dir,
        level=settings.log_level.value,
        json_console=settings.json_logs,
        max_size_mb=settings.log_max_size_mb,
        backup_count=settings.log_backup_count,
        retention_days=settings.log_retention_days,
        console_stream=console_stream,
        host=settings.host,
    )


def _setup_logs(ctx: WorkerContext) -> None:
    settings = ctx.settings
    try:
        path = configure_logging(
            settings, worker=ctx.spec.name, instance=ctx.instance, domain=ctx.domain
        )
    except OSError as exc:  # exit 2, not a traceback systemd would restart until start-limit-hit
        raise StartupError(
            f"LOG_DIR={settings.log_dir}: cannot write the log there "
            f"({exc.strerror or exc}: {exc.filename}); create it writable by the service user, "
            "or point LOG_DIR elsewhere"
        ) from exc
    log.info(
        "starting worker",
        extra={
            "worker": ctx.spec.name,
            "instance": ctx.instance,
            "group": ctx.group,
            "log_file": str(path) if path else None,
            "config": _banner(settings),
        },
    )


def _banner(settings: CoreSettings) -> dict[str, Any]:
    from vpipe_core.config.loader import format_value

    shown: dict[str, Any] = {}
    for field in attrs.fields(CoreSettings):
        value = getattr(settings, field.name)
        shown[env_name(field)] = "****" if is_secret(field) and value else format_value(value)
    return shown


def _serve(ctx: WorkerContext, port: int | None) -> int:
    from vpipe_core.kafka.outbox import FatalConfigError
    from vpipe_core.loop.source import SourceStopped
    from vpipe_core.ops import metrics

    metrics.build_info.labels(_version(), ctx.settings.environment).set(1)
    tracing = _tracing(ctx)
    handler = _build_handler(ctx)
    topics = input_topics(ctx.spec, ctx.settings, ctx.env)
    loop = _connect(ctx, handler, topics, tracing)
    _install_signal_handlers(loop)
    ctx.health.starting = False
    log.info(
        "worker ready to consume", extra={"topics": topics, "port": port, "spans": bool(tracing)}
    )
    try:
        loop.run()
    except FatalConfigError as exc:
        log.error("stopping on a configuration error", extra={"error": str(exc)})
        print(f"vpipe-worker: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except SourceStopped as exc:
        log.error("the source stopped", extra={"error": str(exc), "exit_code": exc.exit_code})
        print(f"vpipe-worker: {exc}", file=sys.stderr)
        return exc.exit_code
    finally:
        if tracing is not None:
            tracing.close()
    log.info("worker stopped")
    return 0


def _tracing(ctx: WorkerContext) -> Tracing | None:
    from vpipe_core.lineage.spans import TracingUnavailable, tracing_for

    try:
        return tracing_for(ctx)
    except TracingUnavailable as exc:
        raise StartupError(f"configuration error: {exc}") from exc


def _version() -> str:
    from vpipe_core.deploy.versions import core_version

    return core_version()


def _build_handler(ctx: WorkerContext) -> Any:
    from vpipe_core.config.loader import ConfigError
    from vpipe_core.plugins.plugin_set import PluginLoadError
    from vpipe_core.registry import handler_factory

    try:
        return handler_factory(ctx.spec)(ctx)
    except (ConfigError, PluginLoadError) as exc:
        raise StartupError(f"configuration error:\n{exc}") from exc


def input_topics(spec: WorkerSpec, settings: CoreSettings, env: Mapping[str, str]) -> list[str]:
    if spec.consumes_retry_tiers:
        from vpipe_core.kafka.topics import retry_topics

        return retry_topics(spec.domain, settings, env)
    return list(spec.input_topics)


def _connect(
    ctx: WorkerContext, handler: Any, topics: list[str], tracing: Tracing | None = None
) -> Any:
    """The worker's loop; `tracing` when spans are on (lineage.spans)."""
    from confluent_kafka import Consumer, Producer

    from vpipe_core.kafka.clientconf import consumer_config, producer_config
    from vpipe_core.kafka.topics import state_topics
    from vpipe_core.loop import ProcessingLoop
    from vpipe_core.retry.router import OutcomeRouter
    from vpipe_core.retry.topics import dlq_topic, domain_delays
    from vpipe_core.state.changelog import changelog_topic

    settings = ctx.settings
    required = {*topics, *ctx.spec.output_topics, *state_topics(ctx.spec), dlq_topic(ctx.domain)}
    if ctx.spec.changelog_hours:
        required.add(changelog_topic(ctx.spec))
    _wait_for_broker(ctx, sorted(required))
    callbacks: dict[str, Any] = {}
    if ctx.spec.kind is Kind.SOURCE:
        return _source_loop(ctx, handler, callbacks, tracing)
    consumer = Consumer(
        {
            **consumer_config(settings, ctx.group, ctx.client_id),
            "stats_cb": lambda stats: callbacks["loop"].on_stats(stats),
            "error_cb": lambda error: callbacks["loop"].on_error(error),
        }
    )
    producer = Producer(
        {
            **producer_config(settings, ctx.client_id),
            "on_delivery": lambda error, msg: callbacks["loop"].on_delivery_error(error, msg),
        }
    )
    delays = domain_delays(ctx.domain, ctx.env, settings.retry_delays)
    router = OutcomeRouter(ctx.domain, ctx.spec.name, ctx.worker_id, delays)
    loop = ProcessingLoop(ctx, handler, consumer, producer, router, topics, tracing)
    callbacks["loop"] = loop
    return loop


def _source_loop(
    ctx: WorkerContext, source: Any, callbacks: dict[str, Any], tracing: Tracing | None
) -> Any:
    from confluent_kafka import Producer

    from vpipe_core.kafka.clientconf import producer_config
    from vpipe_core.loop.source import SourceLoop

    producer = Producer(
        {
            **producer_config(ctx.settings, ctx.client_id),
            "delivery.report.only.error": False,  # the source's cursor holds the offsets
            "on_delivery": lambda error, msg: callbacks["loop"].on_delivery(error, msg),
        }
    )
    callbacks["loop"] = loop = SourceLoop(ctx, source, producer, tracing)
    return loop


def _wait_for_broker(ctx: WorkerContext, required_topics: list[str]) -> None:
    """Startup probe with linear backoff; missing topics are a configuration error."""
    from confluent_kafka.admin import AdminClient

    from vpipe_core.kafka.clientconf import common_config
    from vpipe_core.state.changelog import partition_mismatches

    settings = ctx.settings
    admin = AdminClient(common_config(settings))
    attempts = settings.startup_max_retries + 1
    for attempt in range(1, attempts + 1):
        try:
            existing = admin.list_topics(timeout=10).topics
            break
        except Exception as exc:
            if attempt == attempts:
                raise StartupError(
                    f"broker {settings.kafka_bootstrap_servers} unreachable after {attempts} "
                    f"attempts: {exc}; check KAFKA_BOOTSTRAP_SERVERS",
                    code=1,
                ) from exc
            log.warning("broker not reachable yet", extra={"attempt": attempt, "error": str(exc)})
            time.sleep(settings.startup_backoff_seconds * attempt)
    ctx.health.broker_answered()
    missing = [topic for topic in required_topics if topic not in existing]
    if missing:
        raise StartupError(
            f"topics missing on {settings.kafka_bootstrap_servers}: {', '.join(missing)}; "
            "create them with `vpipe topics create`"
        )
    counts = {name: len(meta.partitions) for name, meta in existing.items()}
    mismatches = partition_mismatches([ctx.spec], counts)
    if mismatches:
        raise StartupError("; ".join(mismatches))


def _install_signal_handlers(loop: Any) -> None:
    stopping = {"count": 0}

    def on_signal(signum: int, _frame: Any) -> None:
        stopping["count"] += 1
        if stopping["count"] > 1:
            os._exit(128 + signum)  # second signal: exit at once
        log.info("stop requested", extra={"signal": signal.Signals(signum).name})
        loop.request_stop()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
