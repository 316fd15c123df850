#!/usr/bin/env bash
# Start, stop and inspect the vpipe worker services (one systemd unit per worker instance).
# The worker catalogue comes from `vpipe workers list`, so a new domain needs no change here.
set -euo pipefail

readonly PROG="manage-workers.sh"
readonly UNIT_PREFIX="kafka-pipeline-"

# shellcheck source-path=SCRIPTDIR source=install-lookup
source "$(dirname "${BASH_SOURCE[0]}")/install-lookup"
METRICS_HOST="${METRICS_HOST:-127.0.0.1}"

declare -a WORKERS=()        # worker names, in `vpipe workers list` order
declare -A MAX_INSTANCES=()  # worker -> max instances (1 = single-instance unit)
declare -A PORT_BASE=()      # worker -> metrics port of instance 1
declare -A RECOMMENDED=()    # worker -> instances start-all starts
declare -A KIND=()           # worker -> record, batch or source (the pollers)

usage() {
    cat <<EOF
Usage: $PROG <command> [worker] [count|instance]

Commands:
  status [worker]              every worker (or one): running instances N/max, and per
                               instance its state, main PID, metrics port and /healthz
  start <worker> [count]       start instances 1..count (default 1; single-instance
                               workers ignore count)
  stop <worker> [instance]     stop one instance, or every instance
  restart <worker> [count]     stop every instance, then start 1..count (default: as
                               many as are running now, at least 1)
  enable <worker> [count]      enable instances 1..count at boot (default 1)
  disable <worker> [instance]  disable one instance at boot, or every instance
  logs <worker> [instance]     follow the journal of one instance, or of all of them
  pid <worker> [instance]      main PID of each running instance
  start-all                    every installed worker at its recommended instance count
                               (\`vpipe workers list\`, RECOMMENDED): consumers and writers
                               first, the source workers (pollers, table maintenance) last
  stop-all                     every instance of every worker: the source workers first
  list                         installed workers (from \`vpipe workers list\`)
  help                         this text

Units are kafka-pipeline-<worker>@<instance>.service for multi-instance workers and
kafka-pipeline-<worker>.service for single-instance ones.

Environment:
  INSTALL_DIR   install directory holding venv/bin/vpipe (default: the install this copy
                is in, <dir>/app/deploy/, else /opt/kafka-pipeline)
  VPIPE_BIN     the vpipe command to use (default \$INSTALL_DIR/venv/bin/vpipe, else PATH)
  METRICS_HOST  host of the metrics/health ports (default 127.0.0.1)

Examples:
  $PROG start xact-download 4     # xact-download@1..@4
  $PROG stop xact-download        # every xact-download instance
  $PROG restart xact-upload       # same number of instances as before
  $PROG logs xact-poller
EOF
}

die() {
    printf '%s: %s\n' "$PROG" "$*" >&2
    exit 1
}

usage_error() {
    printf '%s: %s\n\n' "$PROG" "$*" >&2
    usage >&2
    exit 1
}

# --- the worker catalogue -------------------------------------------------------------------

find_vpipe() {
    local vpipe
    vpipe="$(vpipe_command)"
    [[ -n "$vpipe" ]] ||
        die "cannot find the vpipe command: install with deploy/install.sh, or set VPIPE_BIN"
    printf '%s\n' "$vpipe"
}

# Columns are found by their header, so new columns in `vpipe workers list` do not matter.
parse_worker_table() {
    awk 'NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; next }
         NF { print $col["NAME"], $col["INSTANCES"], $col["PORTS"], $col["RECOMMENDED"],
                    $col["KIND"] }'
}

load_catalogue() {
    local vpipe listing rc=0 name max ports recommended kind
    vpipe="$(find_vpipe)"
    listing="$("$vpipe" workers list)" || rc=$?
    while read -r name max ports recommended kind; do
        [[ -n "$name" ]] || continue
        WORKERS+=("$name")
        MAX_INSTANCES["$name"]="$max"
        PORT_BASE["$name"]="${ports%%-*}"
        RECOMMENDED["$name"]="${recommended:-1}"
        KIND["$name"]="${kind:-record}"
    done < <(printf '%s\n' "$listing" | parse_worker_table)
    if [[ ${#WORKERS[@]} -eq 0 ]]; then
        die "\`$vpipe workers list\` found no workers (exit $rc); run it to see why"
    fi
    if [[ $rc -ne 0 ]]; then
        printf '%s: warning: some workers failed to load; see: %s workers list\n' \
            "$PROG" "$vpipe" >&2
    fi
}

require_worker() {
    local name="${1:-}"
    [[ -n "$name" ]] || usage_error "this command needs a worker name"
    if [[ -z "${MAX_INSTANCES[$name]+set}" ]]; then
        usage_error "unknown worker '$name'; installed workers: ${WORKERS[*]}"
    fi
}

is_template() {
    [[ "${MAX_INSTANCES[$1]}" -gt 1 ]]
}

# The unit of one instance; with an empty instance, the template itself.
unit_of() {
    local name="$1" instance="${2-1}"
    if is_template "$name"; then
        printf '%s%s@%s.service\n' "$UNIT_PREFIX" "$name" "$instance"
    else
        printf '%s%s.service\n' "$UNIT_PREFIX" "$name"
    fi
}

all_instances_pattern() {
    printf '%s%s@*.service\n' "$UNIT_PREFIX" "$1"
}

# Prints the number, or exits with a message naming the allowed range.
checked_number() {
    local what="$1" name="$2" value="$3" max="${MAX_INSTANCES[$2]}"
    if [[ ! "$value" =~ ^[0-9]+$ ]] || ((10#$value < 1 || 10#$value > max)); then
        die "$what for $name must be a whole number from 1 to $max (got '$value')"
    fi
    printf '%d\n' "$((10#$value))"
}

units_up_to() {
    local name="$1" count="$2" instance
    for ((instance = 1; instance <= count; instance++)); do
        unit_of "$name" "$instance"
    done
}

# --- systemd queries (never fail: status must list every worker) ----------------------------

# "<unit> <active> <sub>" for each loaded instance unit of a template worker.
instance_units() {
    systemctl list-units --all --plain --no-legend --no-pager "$(all_instances_pattern "$1")" \
        2>/dev/null | awk '{ if ($1 == "●") $1 = ""; $0 = $0; print $1, $3, $4 }' || true
}

# Reads instance_units lines on stdin; prints how many are running.
count_running() {
    awk '$3 == "running" { n++ } END { print n + 0 }'
}

# "<active> <sub> <pid>" of one unit.
unit_state() {
    systemctl show --property=ActiveState,SubState,MainPID "$1" 2>/dev/null |
        awk -F= '{ v[$1] = $2 } END { print (v["ActiveState"] ? v["ActiveState"] : "unknown"),
                                      (v["SubState"] ? v["SubState"] : "-"),
                                      (v["MainPID"] ? v["MainPID"] : 0) }' || true
}

health_of() {
    local port="$1" code
    command -v curl >/dev/null 2>&1 || { printf 'n/a\n'; return; }
    code="$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 \
        "http://$METRICS_HOST:$port/healthz" 2>/dev/null)" || true
    case "$code" in
        200) printf 'ok\n' ;;
        503) printf 'stalled\n' ;;
        *) printf 'no answer\n' ;;
    esac
}

# --- commands --------------------------------------------------------------------------------

cmd_list() {
    local name
    printf '%-28s %-8s %-12s %s\n' WORKER MAX PORTS UNIT
    for name in "${WORKERS[@]}"; do
        local last=$((PORT_BASE[$name] + MAX_INSTANCES[$name] - 1)) ports="${PORT_BASE[$name]}"
        [[ $last -ne ${PORT_BASE[$name]} ]] && ports="$ports-$last"
        printf '%-28s %-8s %-12s %s\n' "$name" "${MAX_INSTANCES[$name]}" "$ports" \
            "$(unit_of "$name" '')"
    done
}

# One line of the status table.
row() {
    printf '%-28s %-8s %-6s %-20s %-8s %-6s %s\n' "$@"
}

status_row() {
    local name="$1" running="$2" instance="$3" unit="$4" state=unknown sub=- pid=0 port health="-"
    read -r state sub pid < <(unit_state "$unit") || true
    if [[ -z "$running" ]]; then  # a single-instance worker
        running="0/1"
        [[ "$sub" == "running" ]] && running="1/1"
    fi
    port=$((PORT_BASE[$name] + ${instance:-1} - 1))
    [[ "$state" == "active" ]] && health="$(health_of "$port")"
    [[ "$pid" == "0" ]] && pid="-"
    row "$name" "$running" "${instance:+@$instance}" "$state/$sub" "$pid" "$port" "$health"
}

status_worker() {
    local name="$1" listing unit instance shown=0 running
    if ! is_template "$name"; then
        status_row "$name" "" "" "$(unit_of "$name")"
        return 0
    fi
    listing="$(instance_units "$name")"
    running="$(printf '%s\n' "$listing" | count_running)/${MAX_INSTANCES[$name]}"
    while read -r unit _; do
        instance="${unit#*@}"
        instance="${instance%.service}"
        [[ "$instance" =~ ^[0-9]+$ ]] || continue
        status_row "$name" "$running" "$instance" "$unit"
        shown=$((shown + 1))
    done <<<"$listing"
    if [[ $shown -eq 0 ]]; then
        row "$name" "$running" "-" "inactive" "-" "-" "-"
    fi
}

cmd_status() {
    local name workers=("${WORKERS[@]}")
    if [[ -n "${1:-}" ]]; then
        require_worker "$1"
        workers=("$1")
    fi
    row WORKER RUNNING INST STATE PID PORT HEALTH
    for name in "${workers[@]}"; do
        status_worker "$name" || printf '%-28s (status unavailable)\n' "$name"
    done
}

cmd_start() {
    local name="$1" verb="${3:-start}" count
    local -a units=()
    if ! is_template "$name"; then
        if [[ -n "${2:-}" && "${2}" != "1" ]]; then
            printf '%s: %s runs a single instance; count %s ignored\n' "$PROG" "$name" "$2" >&2
        fi
        units=("$(unit_of "$name")")
    else
        count="$(checked_number count "$name" "${2:-1}")"
        mapfile -t units < <(units_up_to "$name" "$count")
    fi
    systemctl "$verb" "${units[@]}"
    printf '%s: %s\n' "$verb" "${units[*]}"
}

cmd_stop() {
    local name="$1" verb="${3:-stop}" instance
    local -a units=()
    if [[ -n "${2:-}" ]]; then
        instance="$(checked_number instance "$name" "$2")"
        units=("$(unit_of "$name" "$instance")")
    elif ! is_template "$name"; then
        units=("$(unit_of "$name")")
    elif [[ "$verb" == "stop" ]]; then
        units=("$(all_instances_pattern "$name")")
    else
        # Unit-file operations take no patterns: name every possible instance.
        mapfile -t units < <(units_up_to "$name" "${MAX_INSTANCES[$name]}")
    fi
    systemctl "$verb" "${units[@]}"
    printf '%s: %s\n' "$verb" "${units[*]}"
}

cmd_restart() {
    local name="$1" count="${2:-}"
    if ! is_template "$name"; then
        systemctl restart "$(unit_of "$name")"
        printf 'restart: %s\n' "$(unit_of "$name")"
        return
    fi
    if [[ -z "$count" ]]; then
        # Keep the number of instances running now (at least one).
        count="$(instance_units "$name" | count_running)"
        [[ "$count" -ge 1 ]] || count=1
    fi
    count="$(checked_number count "$name" "$count")"
    cmd_stop "$name"
    cmd_start "$name" "$count"
}

cmd_logs() {
    local name="$1" instance
    if [[ -n "${2:-}" ]]; then
        instance="$(checked_number instance "$name" "$2")"
        exec journalctl -f -u "$(unit_of "$name" "$instance")"
    elif is_template "$name"; then
        exec journalctl -f -u "$(all_instances_pattern "$name")"
    else
        exec journalctl -f -u "$(unit_of "$name")"
    fi
}

cmd_pid() {
    local name="$1" unit sub state pid instance found=0
    local -a units=()
    if [[ -n "${2:-}" ]]; then
        instance="$(checked_number instance "$name" "$2")"
        units=("$(unit_of "$name" "$instance")")
    elif is_template "$name"; then
        while read -r unit _ sub; do
            [[ "$sub" == "running" ]] && units+=("$unit")
        done < <(instance_units "$name")
    else
        units=("$(unit_of "$name")")
    fi
    for unit in "${units[@]}"; do
        pid=0
        read -r state sub pid < <(unit_state "$unit") || true
        if [[ "$pid" != "0" ]]; then
            printf '%s %s\n' "$unit" "$pid"
            found=$((found + 1))
        fi
    done
    [[ $found -gt 0 ]] || die "no running instance of $name"
}

# Workers in start order: everything that consumes first, the source workers (kind source: the
# pollers and the table maintenance) last, so nothing is produced before its consumers run.
# stop-all uses the reverse.
start_order() {
    local name
    for name in "${WORKERS[@]}"; do [[ "${KIND[$name]}" == source ]] || printf '%s\n' "$name"; done
    for name in "${WORKERS[@]}"; do [[ "${KIND[$name]}" != source ]] || printf '%s\n' "$name"; done
}

cmd_start_all() {
    local name
    while read -r name; do
        cmd_start "$name" "${RECOMMENDED[$name]}"
    done < <(start_order)
}

cmd_stop_all() {
    local i
    local -a order
    mapfile -t order < <(start_order)
    for ((i = ${#order[@]} - 1; i >= 0; i--)); do
        cmd_stop "${order[$i]}"
    done
}

main() {
    local command="${1:-help}"
    case "$command" in
        help | -h | --help)
            usage
            return
            ;;
        status | start | stop | restart | enable | disable | logs | pid | list) ;;
        start-all | stop-all) ;;
        *) usage_error "unknown command '$command'" ;;
    esac
    [[ $# -le 3 ]] || usage_error "too many arguments"
    load_catalogue
    case "$command" in
        list) cmd_list ;;
        status) cmd_status "${2:-}" ;;
        start-all | stop-all)
            [[ $# -eq 1 ]] || usage_error "$command takes no arguments"
            "cmd_${command/-/_}"
            ;;
        *)
            require_worker "${2:-}"
            case "$command" in
                start) cmd_start "$2" "${3:-}" ;;
                enable) cmd_start "$2" "${3:-}" enable ;;
                stop) cmd_stop "$2" "${3:-}" ;;
                disable) cmd_stop "$2" "${3:-}" disable ;;
                restart) cmd_restart "$2" "${3:-}" ;;
                logs) cmd_logs "$2" "${3:-}" ;;
                pid) cmd_pid "$2" "${3:-}" ;;
            esac
            ;;
    esac
}

main "$@"
