"""The Delta worker process: a child interpreter started on demand, reused, stopped when idle,
killed on timeout.

delta-rs holds the GIL while it writes; run in the loop's process it starved heartbeats and
health probes. Every call here waits on a socket (GIL released) for at most its timeout; a child
that does not answer in time is killed and replaced, and the caller retries the batch in place.
A kill cannot leave half a commit: a Delta commit is one atomic log-file creation.

The child imports deltalake and pyarrow (≈ 115 MB), so it runs only while there is Delta work:
the first call starts it and, with `idle_s` set, it is stopped once no call came for that long.
It is a plain `python -m vpipe_core.delta.child` (not multiprocessing's forkserver, whose server
and resource tracker would stay resident between children).
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from multiprocessing.connection import Connection
from typing import Any

from vpipe_core.delta.errors import DeltaWriteError, DeltaWriteTimeout, transient
from vpipe_core.outcome import Category

STOP_TIMEOUT_S = 5.0

log = logging.getLogger("vpipe.delta")


class _Child:
    """One running child and our end of its socket."""

    def __init__(self, environment: Mapping[str, str]) -> None:
        ours, theirs = socket.socketpair()
        with ours, theirs:
            self.popen = subprocess.Popen(
                [sys.executable, "-m", "vpipe_core.delta.child", str(theirs.fileno())],
                env={**os.environ, **environment},
                stdin=subprocess.DEVNULL,
                pass_fds=(theirs.fileno(),),
            )
            self.conn = Connection(ours.detach())
        self.ended = threading.Event()  # wakes its idle watch when it is stopped early

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def stop(self) -> None:
        """Ask it to exit; kill it if it does not."""
        if self.alive():
            with contextlib.suppress(OSError):
                self.conn.send(None)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.popen.wait(STOP_TIMEOUT_S)
        self.kill()

    def kill(self) -> None:
        if self.alive():
            self.popen.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(STOP_TIMEOUT_S)
        self.conn.close()
        self.ended.set()


class DeltaProcess:
    """A handle on the worker process; share one between the sinks of a worker.

    Thread-safe: calls queue. `environment` is added to the child's environment (e.g.
    `SSL_CERT_FILE`, read by delta-rs for its trust roots). `idle_s`: stop the child once no
    call came for that long (None: keep it until `close`); the next call starts a new one.
    """

    def __init__(
        self, environment: Mapping[str, str] | None = None, idle_s: float | None = None
    ) -> None:
        self._environment = dict(environment or {})
        self._idle_s = idle_s
        self._lock = threading.Lock()
        self._child: _Child | None = None
        self._last_call = time.monotonic()

    @property
    def pid(self) -> int | None:
        return self._child.pid if self._child is not None else None

    @property
    def alive(self) -> bool:
        return self._child is not None and self._child.alive()

    @property
    def idle_s(self) -> float | None:
        return self._idle_s

    def call(self, operation: str, args: tuple[Any, ...], timeout_s: float) -> Any:
        """Run `operation` (a name in `ops.OPERATIONS`) in the child; raise DeltaWriteError."""
        if not self._lock.acquire(timeout=timeout_s):
            raise DeltaWriteTimeout(f"delta worker busy for {timeout_s:g}s ({operation})")
        try:
            return self._call(operation, args, timeout_s)
        finally:
            self._last_call = time.monotonic()
            self._lock.release()

    def stop(self) -> None:
        """Stop the child now (e.g. after startup preparation); the next call starts a new one.
        Idempotent."""
        with self._lock:
            self._end("stopped")

    def close(self) -> None:
        self.stop()

    def _call(self, operation: str, args: tuple[Any, ...], timeout_s: float) -> Any:
        child = self._running()
        try:
            child.conn.send((operation, args))
            if not child.conn.poll(timeout_s):
                self._end("killed: call timed out", kill=True)
                raise DeltaWriteTimeout(f"{operation} took longer than {timeout_s:g}s; killed")
            reply = child.conn.recv()
        except (EOFError, OSError) as exc:
            code = child.popen.poll()
            self._end(f"died during {operation} ({code})", kill=True)
            raise transient(f"delta worker process died during {operation} ({code})") from exc
        return _unwrap(reply)

    def _running(self) -> _Child:
        if self._child is not None and not self._child.alive():
            self._end(f"found dead ({self._child.popen.returncode})", kill=True)
        if self._child is None:
            try:
                self._child = _Child(self._environment)
            except OSError as exc:  # e.g. out of file descriptors or memory: retried in place
                raise transient(f"delta worker process not started: {exc}") from exc
            log.info("delta process started", extra={"pid": self._child.pid})
            if self._idle_s is not None:
                self._watch_idle(self._child, self._idle_s)
        return self._child

    def _end(self, reason: str, kill: bool = False) -> None:
        """Stop (or kill) the child, if any. The caller holds the lock."""
        child, self._child = self._child, None
        if child is None:
            return
        if kill:
            child.kill()
        else:
            child.stop()
        level = logging.WARNING if kill else logging.INFO
        log.log(level, "delta process stopped", extra={"pid": child.pid, "reason": reason})

    def _watch_idle(self, child: _Child, idle_s: float) -> None:
        watch = threading.Thread(
            target=self._stop_when_idle, args=(child, idle_s), name="delta-idle", daemon=True
        )
        watch.start()

    def _stop_when_idle(self, child: _Child, idle_s: float) -> None:
        """Stop `child` after `idle_s` without a call. The decision and the stop are taken under
        the lock every call holds until its reply: a call in flight is waited for, never cut."""
        while True:
            with self._lock:
                if self._child is not child:
                    return  # stopped, killed or replaced meanwhile
                quiet = time.monotonic() - self._last_call
                if quiet >= idle_s:
                    self._end(f"idle for {idle_s:g}s")
                    return
            child.ended.wait(idle_s - quiet)


def _unwrap(reply: tuple[Any, ...]) -> Any:
    if reply[0] == "ok":
        return reply[1]
    _, category, message, rows = reply
    raise DeltaWriteError(Category(category), message, tuple(rows))
