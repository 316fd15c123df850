"""Settings every worker reads (runtime.md §7). Domains declare their own settings classes."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from pathlib import Path
from typing import ClassVar

import attrs

from vpipe_core.config.fields import replaced_by, setting


class OffsetReset(enum.StrEnum):
    EARLIEST = "earliest"
    LATEST = "latest"


class GroupProtocol(enum.StrEnum):
    CLASSIC = "classic"
    CONSUMER = "consumer"  # KIP-848: the broker assigns partitions and owns the session timeout


class LogLevel(enum.StrEnum):
    DEBUG = "DEBUG"
    INFO = "INFO"
    WARNING = "WARNING"
    ERROR = "ERROR"


@attrs.frozen
class CoreSettings:
    RETIRED_VARIABLES: ClassVar[Mapping[str, str]] = {
        "LOCAL_KAFKA_BOOTSTRAP_SERVERS": replaced_by("KAFKA_BOOTSTRAP_SERVERS"),
        "NO_DELTA": replaced_by("ENABLE_DELTA_WRITES=false"),
        "AZURE_TOKEN_FILE": replaced_by("AZURE_AUTH_METHOD=cli"),
    }

    kafka_bootstrap_servers: str = setting(
        "KAFKA_BOOTSTRAP_SERVERS", "localhost:9094", help="pipeline broker, host:port[,host:port]"
    )
    kafka_security_protocol: str = setting(
        "KAFKA_SECURITY_PROTOCOL", "PLAINTEXT", help="PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL"
    )
    kafka_sasl_mechanism: str = setting(
        "KAFKA_SASL_MECHANISM", "PLAIN", help="PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or OAUTHBEARER"
    )
    kafka_sasl_username: str | None = setting("KAFKA_SASL_USERNAME", None, help="SASL user")
    kafka_sasl_password: str | None = setting(
        "KAFKA_SASL_PASSWORD", None, help="SASL password", secret=True
    )
    kafka_oauth_scope: str | None = setting(
        "KAFKA_OAUTH_SCOPE",
        None,
        help="OAUTHBEARER token scope (default: https://<first bootstrap host>/.default)",
    )
    kafka_ssl_ca_location: Path | None = setting(
        "KAFKA_SSL_CA_LOCATION", None, help="CA file for the broker (default: CA_BUNDLE)"
    )
    kafka_session_timeout_ms: int = setting(
        "KAFKA_SESSION_TIMEOUT_MS", 45000, min=1000, max=3600000, help="consumer session timeout"
    )
    kafka_max_poll_interval_ms: int = setting(
        "KAFKA_MAX_POLL_INTERVAL_MS", 300000, min=1000, max=86400000, help="max time between polls"
    )

    @kafka_max_poll_interval_ms.validator
    def _poll_interval_covers_the_session(self, _field: attrs.Attribute, value: int) -> None:
        if value < self.kafka_session_timeout_ms:
            raise ValueError(
                f"KAFKA_MAX_POLL_INTERVAL_MS ({value}) is shorter than KAFKA_SESSION_TIMEOUT_MS "
                f"({self.kafka_session_timeout_ms}); the consumer refuses that: raise the poll "
                "interval or shorten the session timeout"
            )

    kafka_group_protocol: GroupProtocol = setting(
        "KAFKA_GROUP_PROTOCOL",
        GroupProtocol.CLASSIC,
        help="consumer group protocol: classic, or consumer (KIP-848; Apache Kafka 4.x)",
    )
    kafka_static_membership: bool = setting(
        "KAFKA_STATIC_MEMBERSHIP",
        False,
        help="join consumer groups as a static member (group.instance.id = "
        "<worker>-<instance>@<host>): a restart within the session timeout keeps the instance's "
        "partitions without a rebalance; render the units with `vpipe deploy units "
        "--static-membership`",
    )
    kafka_auto_offset_reset: OffsetReset = setting(
        "KAFKA_AUTO_OFFSET_RESET", OffsetReset.EARLIEST, help="where a new group starts"
    )
    consumer_group: str | None = setting(
        "VPIPE_CONSUMER_GROUP", None, help="consumer group (default: the worker name)"
    )
    worker_instance: int = setting("WORKER_INSTANCE", 1, min=1, max=99, help="instance number")
    host_name: str | None = setting(
        "HOST_NAME", None, help="this host in logs and Kafka client ids (default: system name)"
    )
    topic_partitions: int = setting("TOPIC_PARTITIONS", 8, min=1, max=1000, help="partitions")
    topic_retention_hours: int = setting(
        "TOPIC_RETENTION_HOURS", 168, min=1, max=87600, help="retention of pipeline topics"
    )
    topic_replication_factor: int = setting(
        "TOPIC_REPLICATION_FACTOR", -1, min=-1, max=32, help="replicas; -1: the broker's default"
    )
    topic_min_insync_replicas: int = setting(
        "TOPIC_MIN_INSYNC_REPLICAS", 0, min=0, max=32, help="min.insync.replicas; 0: broker's"
    )
    dlq_retention_days: int = setting("DLQ_RETENTION_DAYS", 14, min=1, max=3650, help="DLQ keep")
    retry_delays: tuple[int, ...] = setting(
        "RETRY_DELAYS", (300, 600, 1800), min=1, max=86400, help="retry tier delays in seconds"
    )
    retry_drain_tiers: tuple[int, ...] = setting(
        "RETRY_DRAIN_TIERS", (), min=1, max=86400, help="old tier delays still drained"
    )
    dlq_max_replays: int = setting(
        "DLQ_MAX_REPLAYS", 3, min=0, max=1000, help="replays of one record before --force is needed"
    )
    inplace_retry_alert_seconds: int = setting(
        "INPLACE_RETRY_ALERT_SECONDS", 300, min=1, max=86400, help="in-place retry before not ready"
    )
    shutdown_drain_seconds: int = setting(
        "SHUTDOWN_DRAIN_SECONDS", 30, min=0, max=600, help="drain time on stop and on revoke"
    )
    startup_max_retries: int = setting(
        "STARTUP_MAX_RETRIES", 5, min=0, max=100, help="broker connection attempts at start"
    )
    startup_backoff_seconds: float = setting(
        "STARTUP_BACKOFF_SECONDS", 5.0, min=0, max=600, help="linear backoff step at start"
    )
    log_dir: Path = setting("LOG_DIR", Path("/opt/kafka-pipeline/logs"), help="log root")
    log_level: LogLevel = setting("LOG_LEVEL", LogLevel.INFO, help="console and file level")
    json_logs: bool = setting("JSON_LOGS", True, help="JSON lines on the console")
    log_max_size_mb: int = setting("LOG_MAX_SIZE_MB", 10, min=1, max=10240, help="rotate size")
    log_backup_count: int = setting("LOG_BACKUP_COUNT", 5, min=0, max=1000, help="archives kept")
    log_retention_days: int = setting("LOG_RETENTION_DAYS", 7, min=1, max=3650, help="days kept")
    metrics_bind_address: str = setting("METRICS_BIND_ADDRESS", "0.0.0.0", help="metrics address")
    health_stall_seconds: int = setting(
        "HEALTH_STALL_SECONDS", 60, min=1, max=3600, help="/healthz fails after this loop stall"
    )
    ready_broker_check_seconds: int = setting(
        "READY_BROKER_CHECK_SECONDS", 30, min=1, max=3600, help="broker must answer within this"
    )
    environment: str = setting("ENVIRONMENT", "production", help="label on vpipe_build_info")
    plugins: tuple[str, ...] | None = setting(
        "VPIPE_PLUGINS", None, help="plugins to load (default: all installed)"
    )
    plugins_strict: bool = setting(
        "VPIPE_PLUGINS_STRICT", False, help="a plugin that fails to load stops the worker"
    )
    plugin_config_dir: Path = setting(
        "VPIPE_PLUGIN_CONFIG_DIR", Path("/opt/kafka-pipeline/config/plugins"), help="plugin configs"
    )
    ca_bundle: Path | None = setting(
        "CA_BUNDLE", None, help="CA bundle for every client (fallback SSL_CERT_FILE)"
    )
    cache_dir: Path = setting(
        "CACHE_DIR", Path("/var/lib/kafka-pipeline/cache"), help="download workers' local cache"
    )
    state_dir: Path = setting(
        "STATE_DIR", Path("/var/lib/kafka-pipeline/state"), help="poller cursors"
    )
    dedup_max_entries: int = setting(
        "DEDUP_MAX_ENTRIES",
        1_000_000,
        min=1000,
        max=100_000_000,
        help="dedup key store cap (entries per worker)",
    )

    @property
    def host(self) -> str:
        """HOST_NAME, else the system's host name."""
        import socket

        return self.host_name or socket.gethostname()
