#!/usr/bin/env python3
"""Bootstrap for a fresh machine with only python3: `python3 run.py <nox session> [-- args]`.

Creates `.venv-nox` with nox once, then runs `nox -s <session>`. Examples:
    python3 run.py demo        # the pipeline on a local broker
    python3 run.py tests       # the test suite
    python3 run.py lint | bench
"""

from __future__ import annotations

import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
TOOL_VENV = ROOT / ".venv-nox"


def nox_executable() -> Path:
    nox = TOOL_VENV / "bin" / "nox"
    if not nox.exists():
        print(f"run.py: creating {TOOL_VENV.name} with nox (once)", flush=True)
        venv.create(TOOL_VENV, with_pip=True)
        pip = [str(TOOL_VENV / "bin" / "python"), "-m", "pip", "install", "--quiet"]
        subprocess.run([*pip, "--upgrade", "pip"], check=True)
        subprocess.run([*pip, "nox>=2024.3"], check=True)
    return nox


def main(argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__)
        return 0
    session, rest = argv[0], argv[1:]
    command = [str(nox_executable()), "-f", str(ROOT / "noxfile.py"), "-s", session, *rest]
    os.chdir(ROOT)
    return subprocess.call(command)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
