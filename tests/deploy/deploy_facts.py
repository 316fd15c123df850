"""Shared facts of the deploy tests: where the repository's deploy files are, which domains the
repository ships (the test domain under tests/fixtures is installed too, and must not leak into
the committed files), and the one command that regenerates each committed file."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
SHIPPED_DOMAINS = ("xact", "claimx")
DOMAIN_ARGS = " ".join(f"--domain {domain}" for domain in SHIPPED_DOMAINS)
REGENERATE_UNITS = f"vpipe deploy units --output deploy/systemd {DOMAIN_ARGS}"
REGENERATE_ENV_TEMPLATE = f"vpipe deploy env-template --output deploy/env.template {DOMAIN_ARGS}"
REGENERATE_PORT_TABLE = f"vpipe deploy port-table --document docs/DEPLOYMENT.md {DOMAIN_ARGS}"
