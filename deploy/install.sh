#!/usr/bin/env bash
# Install or update vpipe on a RHEL 8 host: service account, directories, virtualenv with
# vpipe-core and the domain packages, config/.env (kept if present), systemd units.
# Re-running it updates the code and units; config, logs, cache and state are never removed.
# Root owns the code and the configuration (root runs them too); the service account owns only
# its logs, cache and state, so it cannot change what root runs.
set -euo pipefail

readonly PROG="install.sh"
SOURCE_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
INSTALL_DIR="/opt/kafka-pipeline"
DATA_DIR="/var/lib/kafka-pipeline"
UNIT_DIR="/etc/systemd/system"
SERVICE_USER="kafka-pipeline"
SERVICE_GROUP=""
PYTHON="python3.11"
WHEELS=""
ALLOW_DOWNGRADE=0
PIP_ARGS=""
DRY_RUN=0
readonly CODE_MODE="u=rwX,go=rX"     # directories and programs 755, other files 644
readonly GROUP_MODE="u=rwX,g=rX,o="  # directories 750, files 640: the group reads, others nothing

usage() {
    cat <<EOF
Usage: $PROG [options]

Install or update vpipe (run as root). Creates the service account, the directories, a
virtualenv with vpipe-core and every domain package, config/.env from deploy/env.template
(only if absent), renders the systemd units with \`vpipe deploy units\`, and reloads systemd.
Root owns the code and the configuration; the service account owns only logs, cache and
state. Re-running it updates code and units, keeps config, logs, cache and state, and repairs
owners and modes (a venv that anyone but root could write is rebuilt).

Options:
  --install-dir DIR   install directory: app/, venv/, config/, logs/  (default $INSTALL_DIR)
  --data-dir DIR      persistent data: cache/ (CACHE_DIR), state/ (STATE_DIR)
                      (default $DATA_DIR)
  --user NAME         service account and group, created if missing  (default $SERVICE_USER)
  --unit-dir DIR      where the units go  (default $UNIT_DIR)
  --python PATH       Python 3.11+ used to create the venv  (default $PYTHON)
  --wheels DIR        install from the wheels in DIR (offline) instead of this checkout
  --allow-downgrade   install even if the version is older than the one installed
  --pip-args "ARGS"   extra pip install arguments, e.g. "--proxy http://proxy:3128"
  --dry-run           print every action without doing it
  -h, --help          this text

Environment:
  VPIPE_INSTALL_STAGING=1   installing into a staging tree (packaging, tests): allows another
                            user than root and a --data-dir under /tmp
EOF
}

die() {
    printf '%s: error: %s\n' "$PROG" "$*" >&2
    exit 1
}

step() {
    printf '==> %s\n' "$*"
}

# Prints a command, then runs it (unless --dry-run).
run() {
    printf '+'
    printf ' %q' "$@"
    printf '\n'
    [[ $DRY_RUN -eq 1 ]] || "$@"
}

# Prints a description of a compound action, then runs the function (unless --dry-run).
run_as() {
    local description="$1"
    shift
    printf '+ %s\n' "$description"
    [[ $DRY_RUN -eq 1 ]] || "$@"
}

parse_args() {
    while [[ $# -gt 0 ]]; do
        case "$1" in
            --install-dir) INSTALL_DIR="$(option_value "$@")"; shift 2 ;;
            --data-dir) DATA_DIR="$(option_value "$@")"; shift 2 ;;
            --user) SERVICE_USER="$(option_value "$@")"; shift 2 ;;
            --unit-dir) UNIT_DIR="$(option_value "$@")"; shift 2 ;;
            --python) PYTHON="$(option_value "$@")"; shift 2 ;;
            --wheels) WHEELS="$(option_value "$@")"; shift 2 ;;
            --pip-args) PIP_ARGS="$(option_value "$@")"; shift 2 ;;
            --allow-downgrade) ALLOW_DOWNGRADE=1; shift ;;
            --dry-run) DRY_RUN=1; shift ;;
            -h | --help) usage; exit 0 ;;
            *) die "unknown option '$1' (see $PROG --help)" ;;
        esac
    done
    [[ "$INSTALL_DIR" == /* && "$DATA_DIR" == /* && "$UNIT_DIR" == /* ]] ||
        die "--install-dir, --data-dir and --unit-dir must be absolute paths"
    if [[ "$DATA_DIR" == /tmp || "$DATA_DIR" == /tmp/* ]] && ! staging; then
        die "--data-dir must not be under /tmp: the units give each worker its own /tmp"
    fi
}

# A staging tree (tests, packaging): another user than root and paths under /tmp are fine.
staging() {
    [[ "${VPIPE_INSTALL_STAGING:-}" == 1 ]]
}

option_value() {
    [[ $# -ge 2 && -n "$2" ]] || die "$1 needs a value (see $PROG --help)"
    printf '%s\n' "$2"
}

# --- checks ----------------------------------------------------------------------------------

check_preconditions() {
    if [[ $EUID -ne 0 && $DRY_RUN -eq 0 ]] && ! staging; then
        die "run as root: sudo $0 $*"
    fi
    [[ -f "$SOURCE_DIR/deploy/env.template" ]] ||
        die "$SOURCE_DIR/deploy/env.template is missing: run $PROG from a vpipe checkout"
    if [[ -n "$WHEELS" ]]; then
        check_wheelhouse
    else
        [[ -f "$SOURCE_DIR/pyproject.toml" && -d "$SOURCE_DIR/vpipe_core" ]] ||
            die "$SOURCE_DIR is not a vpipe checkout (no pyproject.toml); use --wheels DIR"
        checkout_version_ok ||
            die "cannot tell which version $SOURCE_DIR is: it is not a git checkout (or git is" \
                "missing). Install from a git clone, or from wheels built in one (--wheels DIR)"
    fi
}

# One wheel per vpipe package: two versions of one would leave the choice to pip.
check_wheelhouse() {
    local wheel name
    local -A seen=()
    compgen -G "$WHEELS/vpipe*.whl" >/dev/null ||
        die "no vpipe*.whl in $WHEELS (build them in a git clone with: pip wheel -w $WHEELS . plugins/*)"
    for wheel in "$WHEELS"/vpipe*.whl; do
        name="${wheel##*/}"
        name="${name%%-*}"
        [[ -z "${seen[$name]:-}" ]] ||
            die "$WHEELS has two $name wheels (${seen[$name]##*/} and ${wheel##*/}): keep one"
        seen[$name]="$wheel"
    done
}

python_ok() {
    "$1" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null
}

# --- account and directories -----------------------------------------------------------------

ensure_account() {
    step "service account $SERVICE_USER"
    if getent passwd "$SERVICE_USER" >/dev/null; then
        SERVICE_GROUP="$(id -gn "$SERVICE_USER")"
        printf 'exists (group %s)\n' "$SERVICE_GROUP"
        return
    fi
    SERVICE_GROUP="$SERVICE_USER"
    getent group "$SERVICE_GROUP" >/dev/null || run groupadd --system "$SERVICE_GROUP"
    run useradd --system --gid "$SERVICE_GROUP" --home-dir "$INSTALL_DIR" --no-create-home \
        --shell /sbin/nologin --comment "vpipe workers" "$SERVICE_USER"
}

# make_dir OWNER MODE DIR: create (or fix mode and owner of) a directory, never touching its content.
make_dir() {
    run install -d -m "$2" "$3"
    run chown "$1" "$3"
}

# own_tree OWNER MODE PATH...: the whole trees to OWNER (user:group) with MODE (chmod's symbolic
# form); symbolic links stay as they are, their targets untouched.
own_tree() {
    local owner="$1" mode="$2"
    shift 2
    run chown -R "$owner" "$@"
    run find "$@" ! -type l -exec chmod "$mode" {} +
}

# Root chowns, chmods and replaces these paths: a link left there by whoever could write the
# directory before (an install where the service account owned it) would redirect root elsewhere.
refuse_links() {
    local path
    for path in "$@"; do
        [[ ! -L "$path" ]] || die "$path is a symbolic link: remove it (and find out who made it)"
    done
}

make_directories() {
    local readers="root:$SERVICE_GROUP" service="$SERVICE_USER:$SERVICE_GROUP"
    step "directories and owners"
    make_dir root:root 755 "$INSTALL_DIR"
    make_dir "$readers" 750 "$DATA_DIR"
    # From here on only root can add entries to these two directories.
    refuse_links "$INSTALL_DIR"/{app,app.new,venv,logs,config,config/plugins} \
        "$INSTALL_DIR"/config/{.env,env.template} "$DATA_DIR"/{cache,state}
    run install -d -m 750 "$INSTALL_DIR/config/plugins"
    own_tree "$readers" "$GROUP_MODE" "$INSTALL_DIR/config"
    # What the workers write is repaired too (a file root made there by hand would stop them).
    # chown -R never follows links; fs.protected_hardlinks=1 keeps others' files out.
    run install -d -m 750 "$INSTALL_DIR/logs" "$DATA_DIR"/{cache,state}
    own_tree "$service" "$GROUP_MODE" "$INSTALL_DIR/logs" "$DATA_DIR"/{cache,state}
}

# --- code and virtualenv ---------------------------------------------------------------------

# What app/ keeps beside wheels/ (the vpipe wheels it was installed from).
code_items() {
    local item
    for item in deploy docs; do
        [[ -e "$SOURCE_DIR/$item" ]] && printf '%s\n' "$item"
    done
}

# copy_items DIR ITEM...: copies the items from the checkout into DIR, without build leftovers.
copy_items() {
    local target="$1"
    shift
    rm -rf "$target"
    mkdir -p "$target"
    tar -C "$SOURCE_DIR" --exclude=__pycache__ --exclude='*.egg-info' --exclude=build \
        -cf - "$@" | tar -C "$target" -xf -
}

copy_code() {
    local staging="$1"
    local -a items
    mapfile -t items < <(code_items)
    copy_items "$staging" "${items[@]}"
    mkdir -p "$staging/wheels"
}

# A copy of a checkout carries no version: setuptools-scm reads it from the checkout itself.
# git refuses a clone that another user owns to root; root already runs this checkout's script.
trusting_checkout() {
    GIT_CONFIG_COUNT=1 GIT_CONFIG_KEY_0=safe.directory GIT_CONFIG_VALUE_0="$SOURCE_DIR" "$@"
}

checkout_version_ok() {
    [[ -n "${SETUPTOOLS_SCM_PRETEND_VERSION:-}" ]] && return
    trusting_checkout git -C "$SOURCE_DIR" rev-parse --is-inside-work-tree >/dev/null 2>&1
}

# build_wheels STAGING: the wheels of this checkout's packages into STAGING/wheels, built from a
# copy (nothing is written into the checkout).
build_wheels() {
    local wheels="$1/wheels" build plugin rc=0
    local -a sources extra=()
    build="$(mktemp -d)"
    copy_items "$build" pyproject.toml README.md vpipe_core plugins
    sources=("$build")
    for plugin in "$build"/plugins/*/pyproject.toml; do
        [[ -e "$plugin" ]] && sources+=("$(dirname "$plugin")")
    done
    [[ -z "$PIP_ARGS" ]] || read -r -a extra <<<"$PIP_ARGS"
    SETUPTOOLS_SCM_OVERRIDES="{root = '$SOURCE_DIR'}" trusting_checkout \
        "$INSTALL_DIR/venv/bin/python" -m pip wheel --quiet "${extra[@]}" --no-deps \
        --wheel-dir "$wheels" "${sources[@]}" || rc=$?
    rm -rf "$build"
    return "$rc"
}

replace_app() {
    local staging="$1" app="$INSTALL_DIR/app"
    rm -rf "$app.old"
    [[ ! -e "$app" ]] || mv "$app" "$app.old"
    mv "$staging" "$app"
    rm -rf "$app.old"
}

# The first path under $1 that is not root's or that others may write. Such code is rebuilt, not
# repaired: whoever could write it may have changed it.
untrusted_path() {
    find "$1" \( ! -user root -o ! -type l -perm /022 \) -print -quit
}

ensure_venv() {
    local venv="$INSTALL_DIR/venv" untrusted
    if [[ -e "$venv" ]]; then
        untrusted="$(untrusted_path "$venv")"
        if [[ -z "$untrusted" ]] && python_ok "$venv/bin/python"; then
            printf 'reusing %s\n' "$venv"
            return
        fi
        [[ -z "$untrusted" ]] ||
            printf 'rebuilding %s: root runs it, but %s is not root'\''s or others may write it\n' \
                "$venv" "$untrusted"
        run rm -rf "$venv"
    fi
    if ! python_ok "$PYTHON"; then
        local problem="$PYTHON is not Python 3.11 or newer: dnf install python3.11, or --python PATH"
        [[ $DRY_RUN -eq 1 ]] || die "$problem"
        printf 'warning: %s\n' "$problem"
    fi
    run "$PYTHON" -m venv "$venv"
}

# version_changes WHEEL...: a line per package, "name: installed -> new"; exit status 3 when one
# would go back to an older version. The venv may hold nothing but pip yet, hence pip's packaging.
version_changes() {
    "$INSTALL_DIR/venv/bin/python" - "$@" <<'EOF'
import importlib.metadata, pathlib, sys, sysconfig
from pip._vendor.packaging.utils import canonicalize_name, parse_wheel_filename
from pip._vendor.packaging.version import Version

own = [sysconfig.get_paths()["purelib"]]  # not what a parent environment lends the venv
installed = {
    canonicalize_name(dist.metadata["Name"]): dist.version
    for dist in importlib.metadata.distributions(path=own)
}
older = False
for wheel in sys.argv[1:]:
    name, new, _, _ = parse_wheel_filename(pathlib.Path(wheel).name)
    old = installed.get(name)
    if old is None:
        print(f"{name}: {new} (new)")
    elif Version(old) == new:
        print(f"{name}: {new} (the same version, reinstalled)")
    else:
        print(f"{name}: {old} -> {new}")
        older = older or Version(old) > new
sys.exit(3 if older else 0)
EOF
}

# Prints the versions replaced and installed; stops before a downgrade unless it was asked for.
check_versions() {
    local wheels="$1" rc=0
    local -a found
    if [[ $DRY_RUN -eq 1 ]]; then
        printf 'versions: printed when the wheels are there (not in a dry run)\n'
        return
    fi
    mapfile -t found < <(compgen -G "$wheels/vpipe*.whl")
    version_changes "${found[@]}" || rc=$?
    [[ $rc -ne 3 || $ALLOW_DOWNGRADE -eq 1 ]] || {
        rm -rf "$wheels"
        die "that would install an older version than the one installed; to go back on" \
            "purpose, run $PROG again with --allow-downgrade"
    }
    [[ $rc -eq 0 || $rc -eq 3 ]] || die "could not read the installed versions (exit $rc)"
}

install_packages() {
    local staging="$INSTALL_DIR/app.new" rc=0
    local -a extra=() index=()
    step "code and virtualenv"
    run_as "copy $(code_items | tr '\n' ' ')from $SOURCE_DIR to $staging" copy_code "$staging"
    ensure_venv
    if [[ -n "$WHEELS" ]]; then
        run cp "$WHEELS"/vpipe*.whl "$staging/wheels/"
        index=(--no-index --find-links "$WHEELS")
    else
        run_as "build the wheels of $SOURCE_DIR into $staging/wheels" build_wheels "$staging" ||
            fail_install "$staging" "building the vpipe wheels failed"
    fi
    own_tree root:root "$CODE_MODE" "$staging"
    check_versions "$staging/wheels"
    [[ -z "$PIP_ARGS" ]] || read -r -a extra <<<"$PIP_ARGS"
    run "$INSTALL_DIR/venv/bin/python" -m pip install "${extra[@]}" "${index[@]}" \
        --constraint "$SOURCE_DIR/deploy/constraints.txt" "$staging"/wheels/vpipe*.whl || rc=$?
    [[ $rc -eq 0 ]] || fail_install "$staging" "dependency installation failed (pip exit $rc)"
    # pip keeps an installed distribution of the same version; the wheels' code must be what runs.
    run "$INSTALL_DIR/venv/bin/python" -m pip install --quiet --no-deps --no-index \
        --force-reinstall "$staging"/wheels/vpipe*.whl ||
        fail_install "$staging" "reinstalling the vpipe wheels failed"
    own_tree root:root "$CODE_MODE" "$INSTALL_DIR/venv"
    run_as "replace $INSTALL_DIR/app with $staging" replace_app "$staging"
}

fail_install() {
    rm -rf "$1"
    die "$2; the previous code in $INSTALL_DIR/app is still in place. Fix the cause above" \
        "(behind a proxy: --pip-args \"--proxy URL\"; offline: --wheels DIR) and run $PROG again"
}

# --- configuration ---------------------------------------------------------------------------

write_env_file() {
    local env_file="$1"
    install -m 640 "$SOURCE_DIR/deploy/env.template" "$env_file"
    # This host's paths, uncommented: the defaults assume the standard layout.
    sed -i \
        -e "s|^#\?LOG_DIR=.*|LOG_DIR=$INSTALL_DIR/logs|" \
        -e "s|^#\?VPIPE_PLUGIN_CONFIG_DIR=.*|VPIPE_PLUGIN_CONFIG_DIR=$INSTALL_DIR/config/plugins|" \
        -e "s|^#\?CACHE_DIR=.*|CACHE_DIR=$DATA_DIR/cache|" \
        -e "s|^#\?STATE_DIR=.*|STATE_DIR=$DATA_DIR/state|" \
        "$env_file"
}

install_config() {
    local env_file="$INSTALL_DIR/config/.env" readers="root:$SERVICE_GROUP"
    step "configuration"
    if [[ -e "$env_file" ]]; then
        printf 'keeping %s (compare with %s/config/env.template after upgrades)\n' \
            "$env_file" "$INSTALL_DIR"
    else
        run_as "write $env_file from deploy/env.template (mode 640)" write_env_file "$env_file"
        run chown "$readers" "$env_file"
    fi
    run install -m 640 "$SOURCE_DIR/deploy/env.template" "$INSTALL_DIR/config/env.template"
    run chown "$readers" "$INSTALL_DIR/config/env.template"
}

# --- units -----------------------------------------------------------------------------------

install_units() {
    step "systemd units"
    run "$INSTALL_DIR/venv/bin/vpipe" deploy units --output "$UNIT_DIR" \
        --install-dir "$INSTALL_DIR" --data-dir "$DATA_DIR" \
        --user "$SERVICE_USER" --group "$SERVICE_GROUP"
    if command -v systemctl >/dev/null 2>&1; then
        run systemctl daemon-reload
    else
        printf 'systemctl not found: run "systemctl daemon-reload" on the target host\n'
    fi
}

summary() {
    local deploy_dir="$INSTALL_DIR/app/deploy" done="Done."
    [[ $DRY_RUN -eq 0 ]] || done="Dry run done: nothing was changed."
    cat <<EOF

$done
Next:
  1. edit $INSTALL_DIR/config/.env, then check it:
       $INSTALL_DIR/venv/bin/vpipe config check --env-file $INSTALL_DIR/config/.env
  2. create the topics:
       VPIPE_ENV_FILE=$INSTALL_DIR/config/.env $INSTALL_DIR/venv/bin/vpipe topics create
  3. start workers:      $deploy_dir/manage-workers.sh start xact-download 4
  Workers already running keep the old code until restarted:
                         $deploy_dir/manage-workers.sh restart <worker>
EOF
}

main() {
    parse_args "$@"
    check_preconditions "$@"
    [[ $DRY_RUN -eq 0 ]] || printf 'dry run: printing the actions, changing nothing\n'
    ensure_account
    make_directories
    install_packages
    install_config
    install_units
    summary
}

main "$@"
