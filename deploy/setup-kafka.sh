#!/usr/bin/env bash
# A local Apache Kafka 4.1.1 for vpipe: one KRaft node in Podman (deploy/kafka-compose.yml),
# data on the named volume kafka-pipeline-data, workers connect to localhost:9094.
set -euo pipefail

readonly PROG="setup-kafka.sh"
readonly CONTAINER="kafka-pipeline-local"
readonly UNIT="container-$CONTAINER.service"
readonly PROJECT="kafka-pipeline"
readonly BOOTSTRAP="localhost:9094"
DEPLOY_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
COMPOSE_FILE="${COMPOSE_FILE:-$DEPLOY_DIR/kafka-compose.yml}"
UNIT_DIR="${UNIT_DIR:-/etc/systemd/system}"
# shellcheck source-path=SCRIPTDIR source=install-lookup
source "$(dirname "${BASH_SOURCE[0]}")/install-lookup"
HEALTH_TRIES="${HEALTH_TRIES:-30}"
HEALTH_INTERVAL="${HEALTH_INTERVAL:-2}"

usage() {
    cat <<EOF
Usage: $PROG [install|start|stop|restart|status|logs|topics]

Runs Apache Kafka 4.1.1 (KRaft, single node) in the Podman container $CONTAINER,
with its data on the volume kafka-pipeline-data; workers use $BOOTSTRAP.

Commands:
  install   (default) install podman and podman-compose if missing, start the container,
            wait until it is healthy, install and enable $UNIT
            so it starts at boot, and create the vpipe topics (vpipe topics create)
  start     start the container (through its systemd unit once installed)
  stop      stop it; the data stays on the volume
  restart   stop, then start
  status    container state, health and unit state
  logs      follow the container's log (journalctl -u $UNIT)
  topics    the declared vpipe topics and whether each exists (vpipe topics list)
  help      this text

Environment:
  UNIT_DIR      where the container unit goes (default /etc/systemd/system)
  INSTALL_DIR   vpipe install directory, for venv/bin/vpipe (default: the install this
                copy is in, <dir>/app/deploy/, else /opt/kafka-pipeline)
  VPIPE_BIN     the vpipe command to use (default \$INSTALL_DIR/venv/bin/vpipe, else PATH)
EOF
}

die() {
    printf '%s: error: %s\n' "$PROG" "$*" >&2
    exit 1
}

step() {
    printf '==> %s\n' "$*"
}

compose() {
    podman-compose -p "$PROJECT" -f "$COMPOSE_FILE" "$@"
}

unit_installed() {
    [[ -f "$UNIT_DIR/$UNIT" ]]
}

require_root() {
    if [[ $EUID -ne 0 && "${VPIPE_INSTALL_STAGING:-}" != 1 ]]; then
        die "'$1' needs root (it installs packages and a system unit): sudo $0 $1"
    fi
}

ensure_podman() {
    local -a missing=()
    command -v podman >/dev/null 2>&1 || missing+=(podman)
    command -v podman-compose >/dev/null 2>&1 || missing+=(podman-compose)
    [[ ${#missing[@]} -gt 0 ]] || return 0
    step "installing ${missing[*]}"
    dnf install -y "${missing[@]}" ||
        die "could not install ${missing[*]} with dnf; podman-compose is in EPEL" \
            "(dnf install epel-release) or: pip3 install podman-compose"
}

# The commands other than install need podman (and start without the unit podman-compose):
# without it they say so, and how to get it, instead of failing with "command not found".
require_podman() {
    local -a missing=()
    command -v podman >/dev/null 2>&1 || missing+=(podman)
    [[ "${1:-}" != compose ]] || command -v podman-compose >/dev/null 2>&1 ||
        missing+=(podman-compose)
    [[ ${#missing[@]} -eq 0 ]] ||
        die "${missing[*]} not installed: 'sudo $0 install' installs it and starts Kafka" \
            "(or: dnf install ${missing[*]}; podman-compose is in EPEL: dnf install epel-release)"
}

wait_healthy() {
    local try
    step "waiting for Kafka to become healthy (up to $((HEALTH_TRIES * HEALTH_INTERVAL)) s)"
    for ((try = 1; try <= HEALTH_TRIES; try++)); do
        if podman healthcheck run "$CONTAINER" >/dev/null 2>&1; then
            printf 'healthy on %s\n' "$BOOTSTRAP"
            return 0
        fi
        sleep "$HEALTH_INTERVAL"
    done
    die "Kafka is not healthy after $((HEALTH_TRIES * HEALTH_INTERVAL)) s;" \
        "see: podman logs $CONTAINER"
}

install_unit() {
    step "systemd unit $UNIT"
    podman generate systemd --name "$CONTAINER" --restart-policy=always >"$UNIT_DIR/$UNIT"
    systemctl daemon-reload
    # Hand the running container over to systemd, which restarts it and starts it at boot.
    podman stop "$CONTAINER" >/dev/null
    systemctl enable --now "$UNIT"
}

create_topics() {
    local vpipe
    vpipe="$(vpipe_command)"
    if [[ -z "$vpipe" ]]; then
        printf 'vpipe is not installed yet: run deploy/install.sh, then:\n'
        printf '  vpipe topics create --bootstrap %s\n' "$BOOTSTRAP"
        return 0
    fi
    step "creating the vpipe topics"
    "$vpipe" topics create --bootstrap "$BOOTSTRAP"
}

cmd_install() {
    require_root install
    [[ -f "$COMPOSE_FILE" ]] || die "compose file $COMPOSE_FILE is missing"
    ensure_podman
    step "starting $CONTAINER"
    compose up -d
    wait_healthy
    install_unit
    wait_healthy
    create_topics
}

cmd_start() {
    if unit_installed; then
        require_podman
        systemctl start "$UNIT"
    else
        require_podman compose
        compose up -d
    fi
    wait_healthy
}

cmd_stop() {
    require_podman
    if unit_installed; then
        systemctl stop "$UNIT"
    else
        podman stop "$CONTAINER"
    fi
}

cmd_status() {
    local state health="-" unit_state="not installed"
    require_podman
    state="$(podman inspect --format '{{.State.Status}}' "$CONTAINER" 2>/dev/null)" ||
        state="absent"
    if [[ "$state" == "running" ]]; then
        health="unhealthy"
        podman healthcheck run "$CONTAINER" >/dev/null 2>&1 && health="healthy"
    fi
    if unit_installed; then
        unit_state="$(systemctl is-active "$UNIT" 2>/dev/null)" || true
    fi
    printf 'container %s: %s, %s\n' "$CONTAINER" "$state" "$health"
    printf 'unit %s: %s\n' "$UNIT" "${unit_state:-unknown}"
    printf 'bootstrap: %s\n' "$BOOTSTRAP"
    [[ "$health" == "healthy" ]]
}

cmd_logs() {
    require_podman
    if unit_installed; then
        exec journalctl -f -u "$UNIT"
    fi
    exec podman logs -f "$CONTAINER"
}

cmd_topics() {
    local vpipe
    vpipe="$(vpipe_command)"
    [[ -n "$vpipe" ]] || die "cannot find the vpipe command: run deploy/install.sh, or set VPIPE_BIN"
    "$vpipe" topics list --bootstrap "$BOOTSTRAP"
}

main() {
    [[ $# -le 1 ]] || die "too many arguments (see $PROG help)"
    case "${1:-install}" in
        install) cmd_install ;;
        start) cmd_start ;;
        stop) cmd_stop ;;
        restart)
            cmd_stop
            cmd_start
            ;;
        status) cmd_status ;;
        logs) cmd_logs ;;
        topics) cmd_topics ;;
        help | -h | --help) usage ;;
        *)
            printf '%s: unknown command %s\n\n' "$PROG" "'$1'" >&2
            usage >&2
            exit 1
            ;;
    esac
}

main "$@"
