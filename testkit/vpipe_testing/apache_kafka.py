"""Apache Kafka 4.x on loopback: one KRaft node (broker and controller) from Maven Central jars.

`kafka_jars()` resolves the pinned version with Maven once (`kafka_jars/pom.xml`) and caches
the jars under `VPIPE_TEST_KAFKA_CACHE` (default `~/.cache/vpipe/kafka`); `ApacheKafka` formats a
log directory, writes `server.properties` from the production settings (`vpipe_core/deploy/
kafka.properties`) plus what a single node forces, runs `java -cp … kafka.Kafka` with a bounded
heap, and waits until its metadata answers. Its log goes to `log_path`. No Docker.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from importlib import resources
from pathlib import Path
from typing import IO

from vpipe_testing.broker import BrokerError, free_port

KAFKA_VERSION = "4.1.1"

#: Consumer session timeout for clients of `ApacheKafka`: Kafka's `group.min.session.timeout.ms`
#: (6 s), the shortest a broker with default settings accepts.
SESSION_TIMEOUT_MS = 6000

#: What one node forces on top of the production settings.
SINGLE_NODE = {
    "offsets.topic.replication.factor": "1",
    "transaction.state.log.replication.factor": "1",
    "transaction.state.log.min.isr": "1",
    "share.coordinator.state.topic.replication.factor": "1",
    "share.coordinator.state.topic.min.isr": "1",
}

#: The KIP-848 (`group.protocol=consumer`) session timeout lives on the broker (45 s by default,
#: and no shorter by default); tests shorten it to the classic clients' 6 s, the one timing they
#: shorten on either protocol so that a killed member's partitions move on in seconds.
CONSUMER_GROUP_TIMINGS = {
    "group.consumer.min.session.timeout.ms": str(SESSION_TIMEOUT_MS),
    "group.consumer.session.timeout.ms": str(SESSION_TIMEOUT_MS),
    "group.consumer.min.heartbeat.interval.ms": "1000",
    "group.consumer.heartbeat.interval.ms": "2000",
}

#: Kafka's command-line tools by their script names, as classes of the same jars.
TOOLS = {
    "kafka-topics": "org.apache.kafka.tools.TopicCommand",
    "kafka-consumer-groups": "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand",
    "kafka-get-offsets": "org.apache.kafka.tools.GetOffsetShell",
    "kafka-configs": "kafka.admin.ConfigCommand",
    "kafka-storage": "kafka.tools.StorageTool",
}

#: A second listener that takes SASL/OAUTHBEARER (`ApacheKafka(oauth_port=…)`), validated by
#: Kafka's built-in unsecured-token validator: any unsigned JWT with a `sub` and an unexpired
#: `exp` is accepted, which stands in for Azure AD's signed tokens on loopback.
OAUTH_LISTENER = {
    "sasl.enabled.mechanisms": "OAUTHBEARER",
    "listener.name.sasl_plaintext.oauthbearer.sasl.jaas.config": (
        "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required "
        'unsecuredLoginStringClaim_sub="broker";'
    ),
}

_LOG4J2 = """\
rootLogger.level={level}
rootLogger.appenderRef.console.ref=CONSOLE
appender.console.type=Console
appender.console.name=CONSOLE
appender.console.target={target}
appender.console.layout.type=PatternLayout
appender.console.layout.pattern=[%d] %p %m (%c)%n
"""


def java_found() -> bool:
    return shutil.which("java") is not None


def kafka_cache_dir() -> Path:
    configured = os.environ.get("VPIPE_TEST_KAFKA_CACHE")
    return Path(configured) if configured else Path.home() / ".cache" / "vpipe" / "kafka"


def production_settings() -> dict[str, str]:
    """The broker settings vpipe depends on, from `vpipe_core/deploy/kafka.properties`."""
    text = resources.files("vpipe_core.deploy").joinpath("kafka.properties").read_text()
    settings: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            settings[key.strip()] = value.strip()
    return settings


def kafka_jars(cache: Path | None = None) -> Path:
    """The directory holding every jar of Kafka `KAFKA_VERSION`, fetched with Maven on first use."""
    root = cache or kafka_cache_dir()
    libs = root / KAFKA_VERSION / "libs"
    done = libs / ".complete"
    if done.exists():
        return libs
    root.mkdir(parents=True, exist_ok=True)
    with _file_lock(root / ".lock"):
        if not done.exists():
            _copy_dependencies(root, libs)
            done.touch()
    return libs


@contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _copy_dependencies(root: Path, libs: Path) -> None:
    mvn = shutil.which("mvn")
    if mvn is None:
        raise BrokerError(
            "Apache Kafka for the tests needs Maven to fetch its jars: mvn not found "
            "(apt-get install maven, or run the tests with VPIPE_TEST_BROKER=local)"
        )
    shutil.rmtree(libs, ignore_errors=True)
    pom = resources.files("vpipe_testing").joinpath("kafka_jars/pom.xml")
    with resources.as_file(pom) as pom_path:
        result = subprocess.run(
            [
                mvn,
                "-q",
                "-B",
                "-f",
                str(pom_path),
                "dependency:copy-dependencies",
                f"-DoutputDirectory={libs}",
                f"-Dmaven.repo.local={root / 'm2'}",
            ],
            capture_output=True,
            text=True,
            check=False,
        )
    if result.returncode != 0:
        tail = (result.stdout + result.stderr).strip().splitlines()[-15:]
        raise BrokerError("mvn could not fetch Apache Kafka's jars:\n" + "\n".join(tail))


class ApacheKafka:
    """One Kafka node on loopback. `start()` / `stop()` (SIGTERM, controlled) / `kill()`
    (SIGKILL); a stopped node starts again on the same `data_dir`. `bootstrap` is host:port,
    `client_env` the worker settings for it, `tool(name, *args)` runs a Kafka CLI tool.
    `oauth_port`: also listen there for SASL_PLAINTEXT with OAUTHBEARER (`OAUTH_LISTENER`)."""

    def __init__(
        self,
        data_dir: Path,
        port: int | None = None,
        log_path: Path | None = None,
        overrides: Mapping[str, str] | None = None,
        heap_mb: int = 768,
        oauth_port: int | None = None,
    ) -> None:
        self.data_dir = data_dir
        self.oauth_port = oauth_port
        self.port = port or free_port()
        self.controller_port = free_port()
        self.bootstrap = f"127.0.0.1:{self.port}"
        self.client_env = {
            "KAFKA_BOOTSTRAP_SERVERS": self.bootstrap,
            "KAFKA_SESSION_TIMEOUT_MS": str(SESSION_TIMEOUT_MS),
        }
        self.log_path = log_path or data_dir.parent / f"{data_dir.name}-kafka.log"
        self._overrides = dict(overrides or {})
        self._heap_mb = heap_mb
        self._log: IO[bytes] | None = None
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def config_dir(self) -> Path:
        return self.data_dir.parent / f"{self.data_dir.name}-config"

    def properties(self) -> dict[str, str]:
        listeners = (
            f"PLAINTEXT://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{self.controller_port}"
        )
        advertised, protocols = f"PLAINTEXT://127.0.0.1:{self.port}", "PLAINTEXT:PLAINTEXT"
        oauth: dict[str, str] = {}
        if self.oauth_port is not None:
            sasl = f"SASL_PLAINTEXT://127.0.0.1:{self.oauth_port}"
            listeners, advertised = f"{listeners},{sasl}", f"{advertised},{sasl}"
            protocols, oauth = f"{protocols},SASL_PLAINTEXT:SASL_PLAINTEXT", OAUTH_LISTENER
        return {
            **production_settings(),
            **SINGLE_NODE,
            **CONSUMER_GROUP_TIMINGS,
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.voters": f"1@127.0.0.1:{self.controller_port}",
            "listeners": listeners,
            "advertised.listeners": advertised,
            "controller.listener.names": "CONTROLLER",
            "listener.security.protocol.map": f"{protocols},CONTROLLER:PLAINTEXT",
            "inter.broker.listener.name": "PLAINTEXT",
            "log.dirs": str(self.data_dir),
            **oauth,
            **self._overrides,
        }

    def start(self, timeout_s: float = 90.0) -> ApacheKafka:
        libs = kafka_jars()
        server_properties = self._write_config()
        if not (self.data_dir / "meta.properties").exists():
            self._format(libs, server_properties)
        self._log = open(self.log_path, "ab")  # noqa: SIM115
        self._process = subprocess.Popen(
            [*self._java(libs), "kafka.Kafka", str(server_properties)],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self._wait_ready(timeout_s)
        return self

    def _java(self, libs: Path, logging: str = "broker") -> list[str]:
        log4j = self.config_dir / f"log4j2-{logging}.properties"
        return [
            "java",
            f"-Xmx{self._heap_mb}m",
            "-XX:+UseG1GC",
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={log4j}",
            "-cp",
            f"{libs}/*",
        ]

    def _write_config(self) -> Path:
        self.config_dir.mkdir(parents=True, exist_ok=True)
        broker_log = _LOG4J2.format(level="INFO", target="SYSTEM_OUT")
        (self.config_dir / "log4j2-broker.properties").write_text(broker_log)
        tools_log = _LOG4J2.format(level="WARN", target="SYSTEM_ERR")
        (self.config_dir / "log4j2-tools.properties").write_text(tools_log)
        path = self.config_dir / "server.properties"
        path.write_text("".join(f"{key}={value}\n" for key, value in self.properties().items()))
        return path

    def _format(self, libs: Path, server_properties: Path) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        cluster_id = _kraft_cluster_id()
        command = [*self._java(libs, "tools"), TOOLS["kafka-storage"], "format"]
        result = subprocess.run(
            [*command, f"--cluster-id={cluster_id}", "-c", str(server_properties)],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise BrokerError(f"kafka-storage format failed: {result.stdout}{result.stderr}")

    def _wait_ready(self, timeout_s: float) -> None:
        from confluent_kafka.admin import AdminClient

        deadline = time.monotonic() + timeout_s
        admin = AdminClient({"bootstrap.servers": self.bootstrap, "log_level": 0})
        while time.monotonic() < deadline:
            if self._process and self._process.poll() is not None:
                raise BrokerError(
                    f"Kafka exited with code {self._process.returncode}; its log: {self.log_path}"
                )
            try:
                if admin.list_topics(timeout=1).brokers:
                    return
            except Exception:
                time.sleep(0.2)
        self.kill()
        raise BrokerError(
            f"Kafka on {self.bootstrap} not ready in {timeout_s}s; its log: {self.log_path}"
        )

    def stop(self, timeout_s: float = 30.0) -> None:
        self._end(signal.SIGTERM, timeout_s)

    def kill(self) -> None:
        self._end(signal.SIGKILL, 10.0)

    def _end(self, sig: signal.Signals, timeout_s: float) -> None:
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.send_signal(sig)
            try:
                process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)
        if self._log is not None:
            self._log.close()
            self._log = None

    def tool(
        self, name: str, *args: str, timeout_s: float = 60.0
    ) -> subprocess.CompletedProcess[str]:
        """Run one of Kafka's tools (`TOOLS`) from the same jars, e.g.
        `tool("kafka-consumer-groups", "--describe", "--group", "g")` (bootstrap added)."""
        self._write_config()
        java = self._java(kafka_jars(), "tools")
        command = [*java, TOOLS[name], "--bootstrap-server", self.bootstrap]
        return subprocess.run(
            [*command, *args], capture_output=True, text=True, timeout=timeout_s, check=False
        )

    def __enter__(self) -> ApacheKafka:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()


def _kraft_cluster_id() -> str:
    """A KRaft cluster id: 16 random bytes, URL-safe base64 without padding, never starting with
    '-' (as Kafka's own `random-uuid`: the tools would read such an id as an option)."""
    import base64

    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cluster_id.startswith("-"):
            return cluster_id
