"""Read-only questions to systemd about the worker units (`vpipe status`).

Two `systemctl` calls for the whole table: which template instances are loaded, and the state of
every unit. Without systemctl (a development machine) the answers are empty, never an error.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Sequence

import attrs

SYSTEMCTL_TIMEOUT_SECONDS = 10.0


@attrs.frozen
class UnitState:
    active: str  # ActiveState: active, inactive, failed, activating, ...
    sub: str  # SubState: running, dead, failed, auto-restart, ...
    pid: int  # MainPID, 0 when not running

    @property
    def text(self) -> str:
        return f"{self.active}/{self.sub}"


def loaded_units(patterns: Sequence[str]) -> list[str]:
    """Units systemd has loaded (any state) matching the glob `patterns`."""
    if not patterns:
        return []
    output = _systemctl("list-units", "--all", "--plain", "--no-legend", "--no-pager", *patterns)
    units = []
    for line in output.splitlines():
        fields = [field for field in line.split() if field != "●"]
        if fields:
            units.append(fields[0])
    return units


def unit_states(units: Sequence[str]) -> dict[str, UnitState]:
    """Unit → state, for the units systemd answered about."""
    if not units:
        return {}
    output = _systemctl("show", "--property=Id,ActiveState,SubState,MainPID", *units)
    states = {}
    for block in output.strip().split("\n\n"):
        values = dict(line.partition("=")[::2] for line in block.splitlines() if "=" in line)
        if "Id" in values:
            pid = values.get("MainPID", "0")
            states[values["Id"]] = UnitState(
                values.get("ActiveState", "unknown"),
                values.get("SubState", "-"),
                int(pid) if pid.isdigit() else 0,
            )
    return states


def _systemctl(*args: str) -> str:
    command = shutil.which("systemctl")
    if command is None:
        return ""
    try:
        result = subprocess.run(
            [command, *args],
            capture_output=True,
            text=True,
            timeout=SYSTEMCTL_TIMEOUT_SECONDS,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return result.stdout
