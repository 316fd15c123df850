"""The Delta worker process: one child started with `forkserver`, reused, killed on timeout.

delta-rs holds the GIL while it writes; run in the loop's process it starved heartbeats and
health probes. Every call here waits on a pipe (GIL released) for at most its timeout; a child
that does not answer in time is killed and replaced, and the caller retries the batch in place.
A kill cannot leave half a commit: a Delta commit is one atomic log-file creation.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import threading
from collections.abc import Mapping
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any

from vpipe_core.delta.errors import DeltaWriteError, DeltaWriteTimeout, transient
from vpipe_core.outcome import Category

STOP_TIMEOUT_S = 5.0


class DeltaProcess:
    """A handle on the worker process; share one between the sinks of a worker.

    `forkserver` (not `fork`: the parent runs librdkafka threads) starts the child from a clean
    server process, which imports the main module without running it: start workers from an
    import-safe main (console scripts, `python -m`, pytest are). Thread-safe: calls queue.
    `environment` is exported to the child before it imports deltalake (e.g. `SSL_CERT_FILE`:
    the forkserver's environment is the one it started with, not the parent's current one).
    """

    def __init__(self, environment: Mapping[str, str] | None = None) -> None:
        self._environment = dict(environment or {})
        self._lock = threading.Lock()
        self._process: BaseProcess | None = None
        self._conn: Connection | None = None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    @property
    def alive(self) -> bool:
        return self._process is not None and self._process.is_alive()

    def call(self, operation: str, args: tuple[Any, ...], timeout_s: float) -> Any:
        """Run `operation` (a name in `ops.OPERATIONS`) in the child; raise DeltaWriteError."""
        if not self._lock.acquire(timeout=timeout_s):
            raise DeltaWriteTimeout(f"delta worker busy for {timeout_s:g}s ({operation})")
        try:
            return self._call(operation, args, timeout_s)
        finally:
            self._lock.release()

    def close(self) -> None:
        """Ask the child to exit; kill it if it does not. Idempotent."""
        with self._lock:
            self._stop()

    def _call(self, operation: str, args: tuple[Any, ...], timeout_s: float) -> Any:
        conn = self._connection()
        try:
            conn.send((operation, args))
            if not conn.poll(timeout_s):
                self._restart()
                raise DeltaWriteTimeout(f"{operation} took longer than {timeout_s:g}s; killed")
            reply = conn.recv()
        except (EOFError, OSError) as exc:
            code = self._process.exitcode if self._process else None
            self._restart()
            raise transient(f"delta worker process died during {operation} ({code})") from exc
        return _unwrap(reply)

    def _connection(self) -> Connection:
        if self._conn is None or self._process is None or not self._process.is_alive():
            self._kill()
            self._start()
        assert self._conn is not None
        return self._conn

    def _start(self) -> None:
        context = multiprocessing.get_context("forkserver")
        parent_end, child_end = context.Pipe()
        process = context.Process(
            target=_child_main,
            args=(child_end, self._environment),
            name="vpipe-delta",
            daemon=True,
        )
        process.start()
        child_end.close()
        self._process, self._conn = process, parent_end

    def _restart(self) -> None:
        self._kill()
        self._start()

    def _stop(self) -> None:
        if self._conn is not None and self._process is not None and self._process.is_alive():
            with contextlib.suppress(OSError):
                self._conn.send(None)
            self._process.join(STOP_TIMEOUT_S)
        self._kill()

    def _kill(self) -> None:
        if self._process is not None:
            if self._process.is_alive():
                self._process.kill()
            self._process.join(STOP_TIMEOUT_S)
            self._process.close()
        if self._conn is not None:
            self._conn.close()
        self._process, self._conn = None, None


def _child_main(conn: Connection, environment: Mapping[str, str]) -> None:
    os.environ.update(environment)
    from vpipe_core.delta import ops  # only the child imports deltalake

    ops.serve(conn)


def _unwrap(reply: tuple[Any, ...]) -> Any:
    if reply[0] == "ok":
        return reply[1]
    _, category, message, rows = reply
    raise DeltaWriteError(Category(category), message, tuple(rows))
