"""systemd unit files rendered from `WorkerSpec`s (runtime.md §12).

Multi-instance workers get a template `kafka-pipeline-<worker>@.service` (instance = `%i`), the
others `kafka-pipeline-<worker>.service`. Every rendered file starts with `MARKER`, so writing a
directory can prune the units of workers that are no longer installed without touching anything
else there.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path, PurePosixPath

import attrs

from vpipe_core.ops.ports import format_ports
from vpipe_core.spec import WorkerSpec

MARKER = "# Rendered by `vpipe deploy units` from the installed WorkerSpec; do not edit."
UNIT_PREFIX = "kafka-pipeline-"

# systemd-analyze security rates a unit with these at 1.2 (systemd 252); without the directives
# systemd 239 (RHEL 8) does not know yet it still rates 1.6. MemoryDenyWriteExecute is left out:
# libffi callbacks in the Azure/Arrow stacks may need writable executable memory.
HARDENING = (
    "NoNewPrivileges=true",
    "PrivateTmp=true",
    "PrivateDevices=true",
    "PrivateUsers=true",
    "PrivateMounts=true",
    "ProtectSystem=strict",
    "ProtectHome=true",
    "ProtectKernelTunables=true",
    "ProtectKernelModules=true",
    "ProtectKernelLogs=true",
    "ProtectControlGroups=true",
    "ProtectClock=true",
    "ProtectHostname=true",
    "ProtectProc=invisible",
    "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX",
    "RestrictNamespaces=true",
    "RestrictRealtime=true",
    "RestrictSUIDSGID=true",
    "LockPersonality=true",
    "RemoveIPC=true",
    "KeyringMode=private",
    "DevicePolicy=closed",
    "CapabilityBoundingSet=",
    "AmbientCapabilities=",
    "SystemCallArchitectures=native",
    "SystemCallFilter=@system-service",
    "SystemCallFilter=~@privileged",
    "SystemCallErrorNumber=EPERM",
    "UMask=0027",
)


@attrs.frozen
class Layout:
    """Where a deployment lives; the defaults are the documented RHEL layout."""

    install_dir: PurePosixPath = attrs.field(
        default=PurePosixPath("/opt/kafka-pipeline"), converter=PurePosixPath
    )
    data_dir: PurePosixPath = attrs.field(
        default=PurePosixPath("/var/lib/kafka-pipeline"), converter=PurePosixPath
    )
    user: str = "kafka-pipeline"
    group: str = "kafka-pipeline"
    # KAFKA_STATIC_MEMBERSHIP: the broker's session timeout in seconds, None when not used
    static_session_s: int | None = None

    @property
    def env_file(self) -> PurePosixPath:
        return self.install_dir / "config" / ".env"

    @property
    def worker_command(self) -> PurePosixPath:
        return self.install_dir / "venv" / "bin" / "vpipe-worker"

    @property
    def log_dir(self) -> PurePosixPath:
        return self.install_dir / "logs"


STATIC_RESTART_MARGIN_S = 5


def unit_name(spec: WorkerSpec) -> str:
    suffix = "@.service" if spec.multi_instance else ".service"
    return f"{UNIT_PREFIX}{spec.name}{suffix}"


def render_units(specs: Iterable[WorkerSpec], layout: Layout) -> dict[str, str]:
    """File name → unit text, for every spec."""
    return {unit_name(spec): render_unit(spec, layout) for spec in specs}


def render_unit(spec: WorkerSpec, layout: Layout) -> str:
    sections = [[MARKER], _unit_section(spec), _service_section(spec, layout), _install_section()]
    return "\n\n".join("\n".join(lines) for lines in sections) + "\n"


def _unit_section(spec: WorkerSpec) -> list[str]:
    which = f"{spec.name} instance %i" if spec.multi_instance else spec.name
    summary = f": {_escape(' '.join(spec.description.split()))}" if spec.description else ""
    return [
        "[Unit]",
        f"Description=vpipe {which}{summary}",
        "After=network-online.target",
        "Wants=network-online.target",
        "StartLimitIntervalSec=300",
        "StartLimitBurst=10",
    ]


def _service_section(spec: WorkerSpec, layout: Layout) -> list[str]:
    instance = "%i" if spec.multi_instance else "1"
    identifier = f"{UNIT_PREFIX}{spec.name}" + ("-%i" if spec.multi_instance else "")
    environment = ["Environment=WORKER_INSTANCE=%i"] if spec.multi_instance else []
    return [
        "[Service]",
        "Type=simple",
        f"User={layout.user}",
        f"Group={layout.group}",
        f"EnvironmentFile={layout.env_file}",
        f"Environment=VPIPE_ENV_FILE={layout.env_file}",
        *environment,
        f"# Metrics, /healthz and /readyz: port {spec.port_base} + instance - 1 "
        f"({format_ports(spec.port_range)}).",
        f"ExecStart={layout.worker_command} --name {spec.name} --instance {instance}",
        f"SyslogIdentifier={identifier}",
        "Restart=on-failure",
        *_restart_delay(layout),
        "# Exit code 2 is a configuration error: restarting would not fix it.",
        "RestartPreventExitStatus=2",
        "TimeoutStopSec=60",
        "KillSignal=SIGTERM",
        "LimitNOFILE=65536",
        f"MemoryMax={spec.memory_max}",
        f"CPUQuota={spec.cpu_quota}",
        "# CACHE_DIR and STATE_DIR live in the data dir, one persistent tree shared by all units",
        "# (the download workers' cache, cursors, dedup stores); /tmp is private to each unit.",
        f"ReadWritePaths={layout.data_dir} {layout.log_dir}",
        *HARDENING,
    ]


def _restart_delay(layout: Layout) -> list[str]:
    """A static member that crashed stays in its group until its session times out; under the
    KIP-848 protocol a new member with its id is refused until then, so the restart waits that
    long. A stop is a clean leave (TimeoutStopSec covers the drain), after which it may rejoin
    at once."""
    if layout.static_session_s is None:
        return ["RestartSec=10"]
    return [
        "# KAFKA_STATIC_MEMBERSHIP: restart only once the crashed member's session has expired.",
        f"RestartSec={layout.static_session_s + STATIC_RESTART_MARGIN_S}",
    ]


def _install_section() -> list[str]:
    return ["[Install]", "WantedBy=multi-user.target"]


def _escape(text: str) -> str:
    """A literal `%` in a unit file must be written `%%` (specifiers start with `%`)."""
    return text.replace("%", "%%")


# --- writing a directory ---------------------------------------------------------------------


@attrs.frozen
class UnitDiff:
    missing: list[str]  # rendered, not in the directory
    changed: list[str]  # in the directory with other content
    stale: list[str]  # rendered earlier (carries MARKER), not rendered now

    @property
    def clean(self) -> bool:
        return not (self.missing or self.changed or self.stale)


def compare_units(directory: Path, units: Mapping[str, str]) -> UnitDiff:
    """How `directory` differs from the rendered `units`."""
    existing = _rendered_files(directory)
    return UnitDiff(
        missing=sorted(name for name in units if not (directory / name).exists()),
        changed=sorted(
            name
            for name, text in units.items()
            if (directory / name).exists() and (directory / name).read_text() != text
        ),
        stale=sorted(existing - units.keys()),
    )


def write_units(directory: Path, units: Mapping[str, str]) -> UnitDiff:
    """Make `directory` hold exactly the rendered units; returns what had to change."""
    diff = compare_units(directory, units)
    directory.mkdir(parents=True, exist_ok=True)
    for name in [*diff.missing, *diff.changed]:
        (directory / name).write_text(units[name])
    for name in diff.stale:
        (directory / name).unlink()
    return diff


def _rendered_files(directory: Path) -> set[str]:
    if not directory.is_dir():
        return set()
    return {
        path.name
        for path in directory.glob(f"{UNIT_PREFIX}*.service")
        if path.is_file() and _first_line(path) == MARKER
    }


def _first_line(path: Path) -> str:
    with path.open(errors="replace") as handle:
        return handle.readline().rstrip("\n")
