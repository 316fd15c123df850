"""Fake system commands for the deploy script tests: each logs its command line to `$FAKE_CALLS`
and answers from simple state files, so a test can assert exactly which calls a script made."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import attrs

# Units the fake knows come from `$FAKE_UNITS`: one "unit active sub pid" line each.
SYSTEMCTL = r"""#!/usr/bin/env bash
printf 'systemctl %s\n' "$*" >> "$FAKE_CALLS"
[[ -z "${FAKE_SYSTEMCTL_EXIT:-}" ]] || exit "$FAKE_SYSTEMCTL_EXIT"
units="${FAKE_UNITS:-/dev/null}"
case "$1" in
    list-units)
        for pattern in "${@:2}"; do
            [[ "$pattern" == --* ]] && continue
            while read -r unit active sub pid; do
                [[ -n "$unit" && "$unit" == $pattern ]] && echo "$unit loaded $active $sub vpipe"
            done < "$units"
        done
        ;;
    show)
        props=""
        for arg in "${@:2}"; do [[ "$arg" != --property=* ]] || props="${arg#--property=}"; done
        first=1
        for wanted in "${@:2}"; do
            [[ "$wanted" == --* ]] && continue
            [[ $first -eq 1 ]] || echo
            first=0
            state="inactive dead 0"
            while read -r unit active sub pid; do
                [[ "$unit" != "$wanted" ]] || state="$active $sub $pid"
            done < "$units"
            read -r active sub pid <<< "$state"
            [[ ",$props," != *,Id,* ]] || echo "Id=$wanted"
            printf 'ActiveState=%s\nSubState=%s\nMainPID=%s\n' "$active" "$sub" "$pid"
        done
        ;;
esac
"""

LOGGING_COMMAND = """#!/usr/bin/env bash
printf '{name} %s\\n' "$*" >> "$FAKE_CALLS"
{extra}
exit "${{FAKE_{upper}_EXIT:-0}}"
"""

# curl answers every health probe with HTTP 200.
CURL_EXTRA = "printf '200'"


@attrs.frozen
class Run:
    returncode: int
    stdout: str
    stderr: str
    calls: list[str]


def write_command(bin_dir: Path, name: str, text: str) -> Path:
    path = bin_dir / name
    path.write_text(text)
    path.chmod(0o755)
    return path


def logging_command(bin_dir: Path, name: str, extra: str = "") -> Path:
    text = LOGGING_COMMAND.format(name=name, extra=extra, upper=name.upper().replace("-", "_"))
    return write_command(bin_dir, name, text)


def vpipe_command() -> str:
    """The real `vpipe` of the interpreter running the tests."""
    return str(Path(sys.executable).parent / "vpipe")


class FakeSystem:
    """A bin directory of fakes put first on PATH, and the log of their calls."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.bin = root / "bin"
        self.bin.mkdir(parents=True, exist_ok=True)
        self.calls_file = root / "calls"
        self.units_file = root / "units"
        self.units_file.touch()
        write_command(self.bin, "systemctl", SYSTEMCTL)
        logging_command(self.bin, "journalctl")
        logging_command(self.bin, "curl", CURL_EXTRA)

    def units(self, *lines: str) -> None:
        self.units_file.write_text("".join(f"{line}\n" for line in lines))

    def env(self, **extra: str) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            PATH=f"{self.bin}:{env.get('PATH', '/usr/bin:/bin')}",
            FAKE_CALLS=str(self.calls_file),
            FAKE_UNITS=str(self.units_file),
            VPIPE_BIN=vpipe_command(),
        )
        env.update(extra)
        return env

    def run(self, script: Path, *args: str, **extra_env: str) -> Run:
        self.calls_file.write_text("")
        result = subprocess.run(
            ["bash", str(script), *args],
            env=self.env(**extra_env),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        calls = self.calls_file.read_text().splitlines()
        return Run(result.returncode, result.stdout, result.stderr, calls)
