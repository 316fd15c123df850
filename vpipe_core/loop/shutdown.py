"""Stopping: stop fetching, finish in-flight work, commit, flush, close; each step bounded and
run even when the one before failed."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from vpipe_core.kafka.outbox import Outbox
from vpipe_core.loop.commits import Commits
from vpipe_core.loop.consume import Consume
from vpipe_core.loop.execute import Execute, drain
from vpipe_core.loop.telemetry import Telemetry

log = logging.getLogger("vpipe.loop")

CLOSE_TIMEOUT_S = 10.0
FINAL_BARRIER_TIMEOUT_S = 10.0


def shut_down(
    drain_seconds: float,
    close_handler: Callable[[], None],
    consume: Consume,
    execute: Execute,
    commits: Commits,
    outbox: Outbox,
    telemetry: Telemetry,
) -> None:
    deadline = time.monotonic() + drain_seconds

    def finish() -> None:
        if not outbox.fatal:
            execute.finish()

    steps: list[tuple[str, Callable[[], None]]] = [
        ("pause", consume.pause_all),
        ("finish batch", finish),
        ("drain", lambda: drain(execute, commits, outbox, None, deadline)),
        ("commit", lambda: commits.commit(sync=True, barrier_timeout_s=FINAL_BARRIER_TIMEOUT_S)),
        ("count", telemetry.flush_counts),
        ("flush producer", lambda: _flush_producer(outbox)),
        ("close handler", close_handler),
        ("stop lag reports", consume.lag.detach),
        ("close consumer", lambda: bounded(consume.consumer.close, CLOSE_TIMEOUT_S)),
    ]
    for name, step in steps:
        try:
            step()
        except Exception:
            log.exception("shutdown step failed", extra={"step": name})
    execute.close()


def _flush_producer(outbox: Outbox) -> None:
    if not outbox.barrier(FINAL_BARRIER_TIMEOUT_S):
        log.error("producer flush left records unacknowledged; they will be redelivered")


def bounded(step: Callable[[], None], timeout_s: float) -> None:
    """Run a blocking client call with a deadline (librdkafka's close has none of its own)."""
    errors: list[BaseException] = []

    def run() -> None:
        try:
            step()
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=run, name="bounded-step", daemon=True)
    thread.start()
    thread.join(timeout_s)
    if thread.is_alive():
        raise TimeoutError(f"step did not finish within {timeout_s}s")
    if errors:
        raise errors[0]
