"""Shared facts of the deploy tests: where the repository's deploy files are, which packages the
repository ships (the test domain under tests/fixtures and the examples are installed too, and
must not leak into the committed files), and the one command that regenerates each file."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
SHIPPED_PACKAGES = ("vpipe-xact", "vpipe-claimx")
PACKAGE_ARGS = " ".join(f"--package {package}" for package in SHIPPED_PACKAGES)
REGENERATE_UNITS = f"vpipe deploy units --output deploy/systemd {PACKAGE_ARGS}"
REGENERATE_ENV_TEMPLATE = f"vpipe deploy env-template --output deploy/env.template {PACKAGE_ARGS}"
REGENERATE_PORT_TABLE = f"vpipe deploy port-table --document docs/DEPLOYMENT.md {PACKAGE_ARGS}"
REGENERATE_CONSTRAINTS = f"vpipe deploy constraints --output deploy/constraints.txt {PACKAGE_ARGS}"
