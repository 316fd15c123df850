"""Prometheus' `promtool`, for testing the alert rules (`promtool test rules`).

`promtool()` takes it from Debian's `prometheus` package once: `apt-get download` (no root
needed) and `dpkg-deb -x`, cached under `VPIPE_TEST_PROMTOOL_CACHE` (default
`~/.cache/vpipe/promtool`; nox points it at `.cache/promtool`). CI machines reach Debian
mirrors, not GitHub, so the release tarball is not an option. `PROMTOOL` names one to use
instead.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

PACKAGE = "prometheus"


class PromtoolMissing(RuntimeError):
    """promtool could not be found or fetched; the message says why and how to fix it."""


def promtool_cache_dir() -> Path:
    configured = os.environ.get("VPIPE_TEST_PROMTOOL_CACHE")
    return Path(configured) if configured else Path.home() / ".cache" / "vpipe" / "promtool"


def promtool(cache: Path | None = None) -> Path:
    """The promtool executable: `PROMTOOL`, else the cached one, else fetched from Debian."""
    configured = os.environ.get("PROMTOOL")
    if configured:
        return Path(configured)
    root = cache or promtool_cache_dir()
    binary = root / "promtool"
    if binary.exists():
        return binary
    root.mkdir(parents=True, exist_ok=True)
    with open(root / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not binary.exists():
            _extract(root, binary)
    return binary


def _extract(root: Path, binary: Path) -> None:
    for tool in ("apt-get", "dpkg-deb"):
        if shutil.which(tool) is None:
            raise PromtoolMissing(
                f"promtool is fetched from Debian's {PACKAGE} package: {tool} not found "
                "(set PROMTOOL to a promtool executable instead)"
            )
    with tempfile.TemporaryDirectory(dir=root) as work:
        _run(["apt-get", "download", PACKAGE], work)
        debs = sorted(Path(work).glob(f"{PACKAGE}_*.deb"))
        if not debs:
            raise PromtoolMissing(f"apt-get download {PACKAGE} left no .deb in {work}")
        _run(["dpkg-deb", "-x", str(debs[0]), "tree"], work)
        extracted = Path(work) / "tree" / "usr" / "bin" / "promtool"
        staged = root / "promtool.part"
        shutil.copy2(extracted, staged)
        staged.replace(binary)  # whole or absent: a killed fetch leaves no half binary


def _run(command: list[str], cwd: str) -> None:
    result = subprocess.run(command, cwd=cwd, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise PromtoolMissing(
            f"`{' '.join(command)}` failed ({result.returncode}): {result.stderr.strip()[-500:]}"
            " (a Debian mirror must be reachable, or set PROMTOOL to a promtool executable)"
        )
